# The talk's first flow: a JavaScript function.
say "deploy the talk's echo.js as a v8 function on subject 'echo'"
cat "$ROOT/examples/js/echo.js"
run nex devrun "$ROOT/examples/js/echo.js" --trigger_subject=echo --type v8
say "invoke it"
run nex req echo 'hello nex!'
say "its console.log went to the workload's log subject"
sleep 0.3
run nex logs echo
