use std::{env, io::{self, Read, Write}};
fn main() {
    let args: Vec<String> = env::args().collect();
    let mut buf = Vec::new();
    io::stdin().read_to_end(&mut buf).unwrap();
    let mut subject = args[1].as_bytes().to_vec();
    buf.append(&mut subject);
    io::stdout().write_all(&mut buf).unwrap();
}
