// The GL softmax and softmax cross-entropy against the independent float64 oracle
// (test/kernels/softmax-ref.ts), element by element, in both profiles, on large-margin rows whose
// losses (down to 4e-17) sit far below the ulp of the batch's largest loss.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { closeRows, glEngine, rowRtol, PROFILE_NAMES } from './helpers';
import { hardRows, softmaxRef, softmaxXentRef } from '../kernels/softmax-ref';

for (const profile of PROFILE_NAMES) {
  test(`softmax and cross-entropy on large-margin, tied and mixed rows match the float64 oracle per element (${profile})`, () => {
    const e = glEngine(profile);
    const { z, t, N, K } = hardRows();
    const zt = e.tensor([N, K], z), tt = e.tensor([N, K], t);
    const r = e.softmaxCrossEntropy(zt, tt);
    const ref = softmaxXentRef(z, t, N, K);
    const losses = e.read(r.losses);
    closeRows(losses, ref.losses, rowRtol(z, N, K, 1), `${profile}: losses`);
    closeRows(e.read(r.dLogits), ref.dLogits, rowRtol(z, N, K, K), `${profile}: dLogits`);
    closeRows(e.read(e.softmax(zt)), softmaxRef(z, N, K), rowRtol(z, N, K, K), `${profile}: softmax`);
    // the smallest loss in the batch must be there at all, not flushed to 0 by the row of ~30
    assert.ok(Math.min(...losses) > 0, `${profile}: a confident row's loss came back as 0`);
  });
}
