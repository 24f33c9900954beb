// Errors the GL engine raises. GlFaultError means "this GL context can no longer be trusted"
// (context lost, a GL error after a pass, a program that will not build): select.ts catches it
// before training, net/train.ts (Trainer.onEngine) during it, and carries on with the CPU engine.
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
