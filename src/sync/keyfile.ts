// The cluster key file. Whoever can read it is a member of the cluster (see docs/security.md), so
// loading refuses what looks like a human-chosen passphrase and warns about a file others can read,
// and generating never writes through a symbolic link or leaves a window with loose permissions.
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import { isMainThread } from 'node:worker_threads';

export const KEY_BYTES = 32;

const KEY_HINT = 'make one with: head -c 32 /dev/urandom | xxd -p -c 64';

/** Only the main thread warns: a board's gossip thread loads the same file a second time. */
const defaultWarn = (line: string) => {
  if (isMainThread) process.stderr.write(`vctrain: warning: ${line}\n`);
};

/**
 * Reads a key file: 64 hex characters (optionally with whitespace), 44 base64 characters, or 32 raw
 * bytes that are not printable text (32 typed characters are a passphrase of far less than 256 bits).
 */
export function loadKeyFile(path: string, warn: (line: string) => void = defaultWarn): Buffer {
  let raw: Buffer;
  let mode: number;
  try {
    const fd = fs.openSync(path, 'r');
    try {
      mode = fs.fstatSync(fd).mode;
      raw = fs.readFileSync(fd);
    } finally {
      fs.closeSync(fd);
    }
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new Error(`key file ${path}: cannot read it (${code ?? (e as Error).message})`);
  }
  const text = raw.toString('utf8').trim();
  let key: Buffer | undefined;
  if (/^[0-9a-fA-F\s]+$/.test(text) && text.replace(/\s/g, '').length === 64) key = Buffer.from(text.replace(/\s/g, ''), 'hex');
  else if (/^[A-Za-z0-9+/]{43}=$/.test(text)) key = Buffer.from(text, 'base64');
  else if (raw.length === KEY_BYTES) {
    // 32 random bytes are all printable ASCII with probability (97/256)^32, about 3e-14
    if (raw.every((b) => (b >= 0x20 && b < 0x7f) || b === 0x09 || b === 0x0a || b === 0x0d)) {
      throw new Error(`key file ${path}: 32 bytes of printable text, which is a passphrase and not a 256-bit key; ${KEY_HINT}`);
    }
    key = Buffer.from(raw);
  }
  if (!key) {
    throw new Error(
      `key file ${path}: expected a 256-bit key as 64 hex characters (got ${raw.length} bytes that are neither 64 hex digits, base64 of 32 bytes, nor 32 raw bytes); ${KEY_HINT}`,
    );
  }
  if (mode & 0o077) warn(`key file ${path} can be read by other users (mode ${(mode & 0o777).toString(8).padStart(4, '0')}); anyone who reads it can join and steer the cluster: chmod 600 ${path}`);
  return key;
}

/**
 * Writes a fresh random key as hex, readable by the owner only; refuses to overwrite unless asked.
 * The file is created exclusively (O_EXCL does not follow a link planted at the path) and, when
 * overwriting, written beside and renamed over, so no other user ever sees the key in a 0644 file.
 */
export function generateKeyFile(path: string, opts: { overwrite?: boolean } = {}): Buffer {
  let st: fs.Stats | undefined;
  try {
    st = fs.lstatSync(path);
  } catch {
    st = undefined;
  }
  if (st?.isSymbolicLink()) throw new Error(`key file ${path}: is a symbolic link; not writing a cluster key through it`);
  if (st && !opts.overwrite) throw new Error(`key file ${path}: already exists (not overwriting a cluster key)`);
  if (st && !st.isFile()) throw new Error(`key file ${path}: exists and is not a regular file`);
  const key = randomBytes(KEY_BYTES);
  const target = st ? `${path}.${process.pid}.tmp` : path;
  try {
    const fd = fs.openSync(target, 'wx', 0o600);
    try {
      fs.fchmodSync(fd, 0o600); // the umask may have narrowed it; nothing widens it
      fs.writeSync(fd, key.toString('hex') + '\n');
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    if (target !== path) fs.renameSync(target, path);
  } catch (e) {
    if (target !== path) fs.rmSync(target, { force: true });
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') throw new Error(`key file ${path}: already exists (not overwriting a cluster key)`);
    throw new Error(`key file ${path}: cannot write it (${code ?? (e as Error).message})`);
  }
  return key;
}
