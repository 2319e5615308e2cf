/** Growable typed arrays for values whose count is known only at the end of a file. */

/** Appends float64 values, doubling its storage when full. */
export class Float64Builder {
  private data = new Float64Array(1024);
  length = 0;

  push(value: number): void {
    if (this.length === this.data.length)
      this.data = grow(this.data, new Float64Array(this.data.length * 2));
    this.data[this.length++] = value;
  }

  /** Returns the values pushed so far, trimmed to their count. */
  finish(): Float64Array {
    return this.data.slice(0, this.length);
  }
}

/** Appends int32 values, doubling its storage when full. */
export class Int32Builder {
  private data = new Int32Array(1024);
  length = 0;

  push(value: number): void {
    if (this.length === this.data.length)
      this.data = grow(this.data, new Int32Array(this.data.length * 2));
    this.data[this.length++] = value;
  }

  /** Returns the values pushed so far, trimmed to their count. */
  finish(): Int32Array {
    return this.data.slice(0, this.length);
  }
}

function grow<T extends Float64Array | Int32Array>(old: T, larger: T): T {
  larger.set(old);
  return larger;
}
