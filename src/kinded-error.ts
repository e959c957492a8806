/** An error with a kind that callers branch on, and a message for people. */
export class KindedError<K extends string> extends Error {
  readonly kind: K;

  constructor(kind: K, message: string) {
    super(message);
    this.kind = kind;
  }
}
