#!/usr/bin/env node
// Runs the TypeScript sources directly (through tsx) in a checkout; the Pi runs dist/vctrain.cjs instead.
require('tsx/cjs/api').register();
require('../src/cli/main.ts');
