//! A KV example: counts visits per name in a KV bucket and greets the caller.
//! stdin is the name; the reply is "hello NAME, visit #N". The bucket is $NEX_KV_BUCKET, or "wasm_visits".
use std::io::{self, Read, Write};

#[path = "../../nex/nex.rs"]
mod nex;

fn main() {
    let mut name = String::new();
    io::stdin().read_to_string(&mut name).unwrap();
    let name = if name.trim().is_empty() { "anonymous".to_string() } else { name.trim().to_string() };
    let bucket = std::env::var("NEX_KV_BUCKET").unwrap_or_else(|_| "wasm_visits".to_string());
    let key: String = name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' }).collect();
    let seen = match nex::kv_get(&bucket, &key) {
        Ok(Some(v)) => String::from_utf8_lossy(&v).parse::<u64>().unwrap_or(0),
        Ok(None) => 0,
        Err(e) => {
            eprintln!("{}", e);
            std::process::exit(2);
        }
    };
    let count = seen + 1;
    if let Err(e) = nex::kv_set(&bucket, &key, count.to_string().as_bytes()) {
        eprintln!("{}", e);
        std::process::exit(2);
    }
    write!(io::stdout(), "hello {}, visit #{}", name, count).unwrap();
}
