// Opens a report in Debian's chromium, headless, and reads back the DOM it built.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const CHROMIUM = '/usr/bin/chromium';

export function dumpDom(file: string): string {
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'vct-chromium-'));
  try {
    return execFileSync(CHROMIUM, [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
      '--disable-sync', '--no-first-run', `--user-data-dir=${profile}`, '--dump-dom', `file://${file}`,
    ], { encoding: 'utf8', timeout: 60_000, stdio: ['ignore', 'pipe', 'ignore'] });
  } finally {
    fs.rmSync(profile, { recursive: true, force: true });
  }
}

/** Chart id -> {series name -> number of points drawn}, read from the DOM chromium built. */
export function chartsIn(dom: string): Map<string, Map<string, number>> {
  const out = new Map<string, Map<string, number>>();
  const svgRe = /<svg[^>]*data-chart="([^"]+)"[^>]*>([\s\S]*?)<\/svg>/g;
  for (const m of dom.matchAll(svgRe)) {
    const series = new Map<string, number>();
    for (const s of m[2].matchAll(/<(?:polyline|circle)[^>]*data-series="([^"]+)"[^>]*data-points="(\d+)"[^>]*>/g)) {
      series.set(s[1], Number(s[2]));
    }
    out.set(m[1], series);
  }
  return out;
}

