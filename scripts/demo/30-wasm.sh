# The talk's second flow: a WebAssembly function (the Rust echo, built for wasm32-wasi).
# --name keeps it apart from the JavaScript echo of the first flow (same file name, so the same default name).
say "deploy the talk's Rust echo as a wasm function on subject 'echowasm' (the type comes from the .wasm extension)"
cat "$ROOT/examples/wasm/echo/src/main.rs"
run nex devrun "$ROOT/examples/wasm/echo/echo.wasm" --trigger_subject=echowasm --name echowasm
say "invoke it: the reply is the payload followed by argv[1], the subject the message arrived on"
run nex req echowasm 'hello nex!'
say "host services from wasm: a Rust visit counter on KV (examples/wasm/kv)"
run nex devrun "$ROOT/examples/wasm/kv/kv.wasm" --trigger_subject=visits --name visits
run nex req visits ada
run nex req visits ada
run nex kv get wasm_visits ada
