/** Splits a child's output stream into lines, so each log message is one whole line. */

/** Longest line kept as one message; longer output is cut so one chatty workload cannot build an unbounded buffer. */
const MAX_LINE_BYTES = 16 * 1024;

/** Turns chunks of text into complete lines (without the newline); `end()` flushes a trailing partial line. */
export class LineSplitter {
  private buf = "";

  constructor(
    private readonly onLine: (line: string) => void,
    private readonly maxLine = MAX_LINE_BYTES,
  ) {}

  /** Feeds one chunk of output. */
  push(chunk: string): void {
    this.buf += chunk;
    let nl: number;
    while ((nl = this.buf.indexOf("\n")) >= 0) {
      this.emit(this.buf.slice(0, nl));
      this.buf = this.buf.slice(nl + 1);
    }
    while (this.buf.length >= this.maxLine) {
      this.onLine(this.buf.slice(0, this.maxLine));
      this.buf = this.buf.slice(this.maxLine);
    }
  }

  /** Flushes what is left when the stream ends. */
  end(): void {
    if (this.buf.length > 0) this.emit(this.buf);
    this.buf = "";
  }

  private emit(line: string): void {
    const l = line.endsWith("\r") ? line.slice(0, -1) : line;
    for (let i = 0; i < l.length || i === 0; i += this.maxLine) this.onLine(l.slice(i, i + this.maxLine));
  }
}
