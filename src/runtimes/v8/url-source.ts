/**
 * `URL` and `URLSearchParams` for the isolate, following the WHATWG URL standard for what functions meet in
 * practice: special and opaque schemes, relative resolution, IPv4/IPv6 hosts, punycode for non-ASCII host
 * labels (without the full UTS #46 mapping table), percent-encoding sets, default ports and linked search params.
 * The percent-encoding sets are the standard's of 2025, which added `^` to the path set (Node 24 agrees; Node 20's and
 * 22's URL still leave it unencoded).
 * Hand-written because the reference implementation (whatwg-url) brings ~300 KB of IDNA tables that every
 * isolate would have to compile. Runs after WEB_SOURCE (it uses TextEncoder/TextDecoder).
 */
export const URL_SOURCE = String.raw`
(() => {
  const enc8 = new TextEncoder(), dec8 = new TextDecoder();
  const SPECIAL = { ftp: "21", file: "", http: "80", https: "443", ws: "80", wss: "443" };
  const HEX = "0123456789ABCDEF";
  const invalid = (input) => new TypeError("Invalid URL: " + input);
  const inSet = (chars) => (c) => c < 0x20 || c > 0x7e || chars.includes(String.fromCharCode(c));
  const FRAG = inSet(" \"<>\x60"), QUERY = inSet(" \"#<>"), SQUERY = inSet(" \"#<>'"), PATH = inSet(" \"#<>?^\x60{}");
  const USERINFO = inSet(" \"#<>?\x60{}/:;=@[\\]^|"), C0 = inSet("");
  const pct = (s, set) => {
    let out = "";
    for (const ch of s) {
      const c = ch.codePointAt(0);
      if (c < 0x80) out += set(c) ? "%" + HEX[c >> 4] + HEX[c & 15] : ch;
      else for (const b of enc8.encode(ch)) out += "%" + HEX[b >> 4] + HEX[b & 15];
    }
    return out;
  };
  const unpct = (s) => {
    const b = enc8.encode(s), out = new Uint8Array(b.length);
    let n = 0;
    const hv = (x) => (x >= 48 && x <= 57 ? x - 48 : x >= 65 && x <= 70 ? x - 55 : x >= 97 && x <= 102 ? x - 87 : -1);
    for (let i = 0; i < b.length; i++) {
      if (b[i] === 37 && i + 2 < b.length && hv(b[i + 1]) >= 0 && hv(b[i + 2]) >= 0) { out[n++] = hv(b[i + 1]) * 16 + hv(b[i + 2]); i += 2; }
      else out[n++] = b[i];
    }
    return out.subarray(0, n);
  };

  const punycode = (label) => {
    const base = 36, cps = Array.from(label, (c) => c.codePointAt(0));
    const digit = (d) => String.fromCharCode(d + 22 + 75 * (d < 26));
    const adapt = (delta, num, first) => {
      let k = 0;
      delta = first ? Math.floor(delta / 700) : delta >> 1;
      delta += Math.floor(delta / num);
      for (; delta > 455; k += base) delta = Math.floor(delta / 35);
      return Math.floor(k + (36 * delta) / (delta + 38));
    };
    let out = cps.filter((c) => c < 0x80).map((c) => String.fromCharCode(c)).join("");
    const b = out.length;
    let h = b, n = 128, delta = 0, bias = 72;
    if (b > 0) out += "-";
    while (h < cps.length) {
      const m = Math.min(...cps.filter((c) => c >= n));
      delta += (m - n) * (h + 1); n = m;
      for (const c of cps) {
        if (c < n) delta++;
        if (c === n) {
          let q = delta;
          for (let k = base; ; k += base) {
            const t = k <= bias ? 1 : k >= bias + 26 ? 26 : k - bias;
            if (q < t) break;
            out += digit(t + ((q - t) % (base - t))); q = Math.floor((q - t) / (base - t));
          }
          out += digit(q); bias = adapt(delta, h + 1, h === b); delta = 0; h++;
        }
      }
      delta++; n++;
    }
    return "xn--" + out;
  };

  const ipv4Number = (s) => {
    if (s === "") return NaN;
    let radix = 10;
    if (/^0[xX]/.test(s)) { s = s.slice(2); radix = 16; } else if (s.length > 1 && s[0] === "0") { s = s.slice(1); radix = 8; }
    if (s === "") return 0;
    const ok = radix === 16 ? /^[0-9a-fA-F]+$/ : radix === 8 ? /^[0-7]+$/ : /^[0-9]+$/;
    return ok.test(s) ? parseInt(s, radix) : NaN;
  };
  const endsInNumber = (host) => {
    const parts = host.split(".");
    if (parts[parts.length - 1] === "" && parts.length > 1) parts.pop();
    const last = parts[parts.length - 1];
    return /^[0-9]+$/.test(last) || /^0[xX][0-9a-fA-F]*$/.test(last);
  };
  const ipv4 = (host, input) => {
    const parts = host.split(".");
    if (parts[parts.length - 1] === "" && parts.length > 1) parts.pop();
    if (parts.length > 4) throw invalid(input);
    const nums = parts.map(ipv4Number);
    if (nums.some((x) => Number.isNaN(x))) throw invalid(input);
    const last = nums.pop();
    if (nums.some((x) => x > 255) || last >= 256 ** (4 - nums.length)) throw invalid(input);
    let v = last;
    nums.forEach((x, i) => { v += x * 256 ** (3 - i); });
    return [v >>> 24, (v >>> 16) & 255, (v >>> 8) & 255, v & 255].join(".");
  };
  const ipv6 = (s, input) => {
    const a = [0, 0, 0, 0, 0, 0, 0, 0];
    let piece = 0, compress = null, p = 0;
    const isHex = (c) => c !== undefined && /[0-9a-fA-F]/.test(c), isDigit = (c) => c !== undefined && /[0-9]/.test(c);
    if (s[p] === ":") { if (s[p + 1] !== ":") throw invalid(input); p += 2; compress = ++piece; }
    while (p < s.length) {
      if (piece === 8) throw invalid(input);
      if (s[p] === ":") { if (compress !== null) throw invalid(input); p++; compress = ++piece; continue; }
      let value = 0, len = 0;
      while (len < 4 && isHex(s[p])) { value = value * 16 + parseInt(s[p], 16); p++; len++; }
      if (s[p] === ".") {
        if (len === 0 || piece > 6) throw invalid(input);
        p -= len;
        let seen = 0;
        while (p < s.length) {
          let v4 = null;
          if (seen > 0) { if (s[p] === "." && seen < 4) p++; else throw invalid(input); }
          if (!isDigit(s[p])) throw invalid(input);
          while (isDigit(s[p])) { const d = +s[p]; if (v4 === 0) throw invalid(input); v4 = v4 === null ? d : v4 * 10 + d; if (v4 > 255) throw invalid(input); p++; }
          a[piece] = a[piece] * 256 + v4;
          if (++seen === 2 || seen === 4) piece++;
        }
        if (seen !== 4) throw invalid(input);
        break;
      } else if (s[p] === ":") { p++; if (p >= s.length) throw invalid(input); }
      else if (p < s.length) throw invalid(input);
      a[piece++] = value;
    }
    if (compress !== null) {
      let swaps = piece - compress;
      piece = 7;
      while (piece !== 0 && swaps > 0) { const t = a[piece]; a[piece] = a[compress + swaps - 1]; a[compress + swaps - 1] = t; piece--; swaps--; }
    } else if (piece !== 8) throw invalid(input);
    let best = -1, bestLen = 1;
    for (let i = 0; i < 8; ) {
      let j = i;
      while (j < 8 && a[j] === 0) j++;
      if (j - i > bestLen) { best = i; bestLen = j - i; }
      i = j === i ? i + 1 : j;
    }
    let out = "";
    for (let i = 0; i < 8; i++) {
      if (i === best) { out += i === 0 ? "::" : ":"; i += bestLen - 1; continue; }
      out += a[i].toString(16) + (i < 7 ? ":" : "");
    }
    return "[" + out + "]";
  };
  const parseHost = (s, special, input) => {
    if (s.startsWith("[")) { if (!s.endsWith("]")) throw invalid(input); return ipv6(s.slice(1, -1), input); }
    if (!special) { if (/[\0\t\n\r #/:<>?@[\\\]^|]/.test(s)) throw invalid(input); return pct(s, C0); }
    let domain = dec8.decode(unpct(s));
    domain = domain.split(".").map((l) => (/[^\0-\x7f]/.test(l) ? punycode(l.normalize("NFC").toLowerCase()) : l.toLowerCase())).join(".");
    if (domain === "" || /[\0-\x20#%/:<>?@[\\\]^|\x7f]/.test(domain)) throw invalid(input);
    return endsInNumber(domain) ? ipv4(domain, input) : domain;
  };

  const isDot = (s) => s === "." || s.toLowerCase() === "%2e";
  const isDots = (s) => /^(\.|%2e)(\.|%2e)$/i.test(s);
  const pushPath = (path, input, special, scheme) => {
    const segs = input.split(special ? /[\/\\]/ : "/");
    segs.forEach((seg, i) => {
      const last = i === segs.length - 1;
      if (isDots(seg)) {
        if (!(scheme === "file" && path.length === 1 && /^[A-Za-z]:$/.test(path[0]))) path.pop();
        if (last) path.push("");
      } else if (isDot(seg)) { if (last) path.push(""); }
      else path.push(pct(seg, PATH));
    });
    return path;
  };
  const splitTail = (s, r, special) => {
    const h = s.indexOf("#");
    if (h >= 0) { r.fragment = pct(s.slice(h + 1), FRAG); s = s.slice(0, h); }
    const q = s.indexOf("?");
    if (q >= 0) { r.query = pct(s.slice(q + 1), special ? SQUERY : QUERY); s = s.slice(0, q); }
    return s;
  };
  const parseAuthority = (r, s, input) => {
    const special = r.scheme in SPECIAL;
    let end = s.search(special ? /[\/\\?#]/ : /[\/?#]/);
    if (end < 0) end = s.length;
    let auth = s.slice(0, end);
    const at = auth.lastIndexOf("@");
    if (at >= 0) {
      const info = auth.slice(0, at), colon = info.indexOf(":");
      r.username = pct(colon >= 0 ? info.slice(0, colon) : info, USERINFO);
      r.password = colon >= 0 ? pct(info.slice(colon + 1), USERINFO) : "";
      auth = auth.slice(at + 1);
    }
    const m = /^(\[[^\]]*\]|[^:]*)(?::(.*))?$/.exec(auth);
    if (!m) throw invalid(input);
    if (m[2] !== undefined && m[2] !== "") {
      if (!/^[0-9]+$/.test(m[2]) || +m[2] > 65535) throw invalid(input);
      r.port = String(+m[2]) === SPECIAL[r.scheme] ? "" : String(+m[2]);
    }
    if (m[1] === "") { if (special && r.scheme !== "file") throw invalid(input); r.host = ""; }
    else r.host = parseHost(m[1], special, input);
    if (r.scheme === "file" && r.host === "localhost") r.host = "";
    return s.slice(end);
  };
  const parsePathAndTail = (r, s, base) => {
    const special = r.scheme in SPECIAL;
    s = splitTail(s, r, special);
    if (base !== undefined) r.path = pushPath(base, s, special, r.scheme);
    else if (s === "" && !special) r.path = [];
    else r.path = pushPath([], /^[\/\\]/.test(s) && (special || s[0] === "/") ? s.slice(1) : s, special, r.scheme);
    return r;
  };

  const parse = (raw, base) => {
    const input = String(raw).replace(/^[\0-\x20]+|[\0-\x20]+$/g, "").replace(/[\t\n\r]/g, "");
    const m = /^([A-Za-z][A-Za-z0-9+\-.]*):/.exec(input);
    const r = { scheme: "", username: "", password: "", host: null, port: "", path: [], opaque: null, query: null, fragment: null };
    if (m) {
      r.scheme = m[1].toLowerCase();
      let rest = input.slice(m[0].length);
      const special = r.scheme in SPECIAL;
      if (special && base && base.scheme === r.scheme && !/^[\/\\]/.test(rest)) return relative(rest, base, raw);
      if (special) {
        if (r.scheme === "file") { if (/^[\/\\]{2}/.test(rest)) rest = parseAuthority(r, rest.slice(2), raw); else r.host = ""; }
        else rest = parseAuthority(r, rest.replace(/^[\/\\]*/, ""), raw);
        return parsePathAndTail(r, rest);
      }
      if (rest.startsWith("//")) return parsePathAndTail(r, parseAuthority(r, rest.slice(2), raw));
      if (rest.startsWith("/")) return parsePathAndTail(r, rest);
      rest = splitTail(rest, r, false);
      r.opaque = pct(rest, C0);
      return r;
    }
    if (!base) throw invalid(raw);
    if (base.opaque !== null) {
      if (!input.startsWith("#")) throw invalid(raw);
      return { ...base, fragment: pct(input.slice(1), FRAG) };
    }
    return relative(input, base, raw);
  };
  const relative = (input, base, raw) => {
    const special = base.scheme in SPECIAL;
    const r = { ...base, path: base.path.slice(), query: base.query, fragment: null };
    const slash = special ? /^[\/\\]/ : /^\//;
    if (special ? /^[\/\\]{2}/.test(input) : input.startsWith("//")) {
      Object.assign(r, { username: "", password: "", host: null, port: "", query: null });
      return parsePathAndTail(r, parseAuthority(r, input.slice(2), raw));
    }
    if (slash.test(input)) { r.query = null; return parsePathAndTail(r, input); }
    if (input === "") return r;
    if (input.startsWith("?") || input.startsWith("#")) { splitTail(input, r, special); return r; }
    r.query = null;
    r.path.pop();
    return parsePathAndTail(r, input, r.path);
  };

  const pathname = (r) => (r.opaque !== null ? r.opaque : r.path.length === 0 && r.host === null ? "" : r.path.length === 0 ? (r.scheme in SPECIAL ? "/" : "") : "/" + r.path.join("/"));
  const serialize = (r, noFragment) => {
    let out = r.scheme + ":";
    if (r.host !== null) {
      out += "//";
      if (r.username || r.password) out += r.username + (r.password ? ":" + r.password : "") + "@";
      out += r.host + (r.port ? ":" + r.port : "");
    } else if (r.opaque === null && r.path.length > 1 && r.path[0] === "") out += "/.";
    out += pathname(r);
    if (r.query !== null) out += "?" + r.query;
    if (!noFragment && r.fragment !== null) out += "#" + r.fragment;
    return out;
  };

  const FORM_SAFE = /[A-Za-z0-9*\-._]/;
  const formEncode = (s) => {
    let out = "";
    for (const ch of String(s)) {
      if (ch === " ") out += "+";
      else if (FORM_SAFE.test(ch)) out += ch;
      else for (const b of enc8.encode(ch)) out += "%" + HEX[b >> 4] + HEX[b & 15];
    }
    return out;
  };
  const formDecode = (s) => dec8.decode(unpct(s.replace(/\+/g, " ")));

  class URLSearchParams {
    #list = []; #owner = null;
    constructor(init = "") {
      if (init instanceof URLSearchParams) this.#list = init.#list.map((p) => p.slice());
      else if (init !== null && typeof init === "object" && typeof init[Symbol.iterator] === "function") {
        for (const pair of init) {
          const p = Array.from(pair);
          if (p.length !== 2) throw new TypeError("URLSearchParams: each pair must have exactly two items");
          this.#list.push([String(p[0]), String(p[1])]);
        }
      } else if (init !== null && typeof init === "object") { for (const k of Object.keys(init)) this.#list.push([k, String(init[k])]); }
      else this.#parse(String(init).replace(/^\?/, ""));
    }
    #parse(s) {
      this.#list = [];
      for (const part of s.split("&")) {
        if (part === "") continue;
        const eq = part.indexOf("=");
        this.#list.push(eq >= 0 ? [formDecode(part.slice(0, eq)), formDecode(part.slice(eq + 1))] : [formDecode(part), ""]);
      }
    }
    #update() { if (this.#owner) this.#owner(this.toString()); }
    static _link(params, owner, query) { params.#owner = owner; params.#parse(query || ""); }
    get size() { return this.#list.length; }
    append(k, v) { this.#list.push([String(k), String(v)]); this.#update(); }
    delete(k, v) { k = String(k); this.#list = this.#list.filter((p) => p[0] !== k || (v !== undefined && p[1] !== String(v))); this.#update(); }
    get(k) { const p = this.#list.find((x) => x[0] === String(k)); return p ? p[1] : null; }
    getAll(k) { return this.#list.filter((x) => x[0] === String(k)).map((x) => x[1]); }
    has(k, v) { return this.#list.some((x) => x[0] === String(k) && (v === undefined || x[1] === String(v))); }
    set(k, v) {
      k = String(k);
      const i = this.#list.findIndex((x) => x[0] === k);
      if (i < 0) this.#list.push([k, String(v)]);
      else { this.#list[i][1] = String(v); this.#list = this.#list.filter((x, j) => j <= i || x[0] !== k); }
      this.#update();
    }
    sort() { this.#list = this.#list.map((p, i) => [p, i]).sort((a, b) => (a[0][0] < b[0][0] ? -1 : a[0][0] > b[0][0] ? 1 : a[1] - b[1])).map((x) => x[0]); this.#update(); }
    forEach(fn, self) { for (const [k, v] of this.#list) fn.call(self, v, k, this); }
    *entries() { for (const p of this.#list) yield [p[0], p[1]]; }
    *keys() { for (const p of this.#list) yield p[0]; }
    *values() { for (const p of this.#list) yield p[1]; }
    [Symbol.iterator]() { return this.entries(); }
    toString() { return this.#list.map(([k, v]) => formEncode(k) + "=" + formEncode(v)).join("&"); }
    get [Symbol.toStringTag]() { return "URLSearchParams"; }
  }
  const link = URLSearchParams._link;
  delete URLSearchParams._link;

  class URL {
    #r; #params;
    constructor(url, base) {
      const b = base === undefined ? undefined : parse(String(base));
      this.#r = parse(String(url), b);
      this.#params = new URLSearchParams();
      link(this.#params, (q) => { this.#r.query = q === "" ? null : q; }, this.#r.query);
    }
    static canParse(url, base) { try { new URL(url, base); return true; } catch { return false; } }
    static parse(url, base) { try { return new URL(url, base); } catch { return null; } }
    #set(r) { this.#r = r; link(this.#params, (q) => { this.#r.query = q === "" ? null : q; }, r.query); }
    get href() { return serialize(this.#r); }
    set href(v) { this.#set(parse(String(v))); }
    get origin() {
      const r = this.#r;
      if (r.scheme === "blob") { try { return new URL(r.opaque !== null ? r.opaque : pathname(r)).origin; } catch { return "null"; } }
      return r.scheme in SPECIAL && r.scheme !== "file" ? r.scheme + "://" + r.host + (r.port ? ":" + r.port : "") : "null";
    }
    get protocol() { return this.#r.scheme + ":"; }
    set protocol(v) {
      const s = String(v).replace(/:.*$/, "").toLowerCase();
      if (!/^[a-z][a-z0-9+\-.]*$/.test(s) || (s in SPECIAL) !== (this.#r.scheme in SPECIAL)) return;
      this.#r.scheme = s;
      if (this.#r.port === SPECIAL[s]) this.#r.port = "";
    }
    get username() { return this.#r.username; }
    set username(v) { if (this.#r.host) this.#r.username = pct(String(v), USERINFO); }
    get password() { return this.#r.password; }
    set password(v) { if (this.#r.host) this.#r.password = pct(String(v), USERINFO); }
    get host() { return this.#r.host === null ? "" : this.#r.host + (this.#r.port ? ":" + this.#r.port : ""); }
    set host(v) { try { const r = parse(this.#r.scheme + "://" + String(v) + "/"); this.#r.host = r.host; if (/:/.test(String(v).replace(/^\[[^\]]*\]/, ""))) this.#r.port = r.port; } catch { /* ignored, as in browsers */ } }
    get hostname() { return this.#r.host === null ? "" : this.#r.host; }
    set hostname(v) { try { this.#r.host = parse(this.#r.scheme + "://" + String(v).replace(/:.*$/, "") + "/").host; } catch { /* ignored */ } }
    get port() { return this.#r.port; }
    set port(v) {
      const m = /^[0-9]*/.exec(String(v))[0];
      if (this.#r.host === null || this.#r.scheme === "file") return;
      if (m === "") { if (String(v) === "") this.#r.port = ""; return; }
      if (+m <= 65535) this.#r.port = String(+m) === SPECIAL[this.#r.scheme] ? "" : String(+m);
    }
    get pathname() { return pathname(this.#r); }
    set pathname(v) {
      if (this.#r.opaque !== null) return;
      const special = this.#r.scheme in SPECIAL;
      const s = String(v).replace(/[?#]/g, (c) => (c === "?" ? "%3F" : "%23"));
      this.#r.path = pushPath([], /^[\/\\]/.test(s) && (special || s[0] === "/") ? s.slice(1) : s, special, this.#r.scheme);
    }
    get search() { return this.#r.query ? "?" + this.#r.query : ""; }
    set search(v) {
      const s = String(v).replace(/^\?/, "");
      this.#r.query = s === "" ? null : pct(s, this.#r.scheme in SPECIAL ? SQUERY : QUERY);
      link(this.#params, (q) => { this.#r.query = q === "" ? null : q; }, this.#r.query);
    }
    get searchParams() { return this.#params; }
    get hash() { return this.#r.fragment ? "#" + this.#r.fragment : ""; }
    set hash(v) { const s = String(v).replace(/^#/, ""); this.#r.fragment = s === "" ? null : pct(s, FRAG); }
    toString() { return this.href; }
    toJSON() { return this.href; }
    get [Symbol.toStringTag]() { return "URL"; }
  }
  const define = (name, value) => Object.defineProperty(globalThis, name, { value, writable: true, configurable: true, enumerable: false });
  define("URL", URL);
  define("URLSearchParams", URLSearchParams);
})();
`;
