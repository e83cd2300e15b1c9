(subject, payload) => {
  let data = JSON.parse(String.fromCharCode(...payload));
  const deviceId = data.deviceId || "unknown";
  const temp = data.temperature;
  this.kv("iot_devices").set(deviceId, payload);
  this.objectStore("iot_history").put(deviceId + "-" + Date.now() + ".json", payload);
  let httpAlert = null;
  if (typeof temp === "number" && temp > 30) {
    const body = JSON.stringify({ deviceId, temperature: temp, ts: Date.now(), subject });
    const bytes = new Uint8Array(body.length);
    for (let i = 0; i < body.length; i++) bytes[i] = body.charCodeAt(i) & 0xff;
    const resp = this.http.post("https://webhooks.app/data", bytes);
    httpAlert = { status: resp?.status, length: resp?.response?.length };
  }
  return { ok: true, subject, device: deviceId, temperature: temp, kv_bucket: "iot_devices",
           object_bucket: "iot_history", http_alert: httpAlert };
};
