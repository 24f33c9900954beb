// Errors the GL engine raises. GlFaultError means "this GL context can no longer be trusted"
// (context lost, a GL error after a pass, a program that will not build): src/net/ and
// ResilientEngine catch it and carry on with the CPU engine from host copies of the parameters.
export class GlFaultError extends Error {
  constructor(message: string, readonly glError?: number) {
    super(message);
    this.name = 'GlFaultError';
  }
}

/** The GL engine cannot start here at all (no `gl` package, no context, self-test mismatch). */
export class GlUnavailableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'GlUnavailableError';
  }
}
