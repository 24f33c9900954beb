// Counts the texture fetches one fragment of a GLSL ES 1.00 shader makes, from its source alone:
// every texture2D( call, through the call graph of the shader's own functions, multiplied by the
// trip count of each constant-bound `for` loop around it. Both arms of a ?: or an if count (the
// vc4 compiler has no branches: it evaluates both and selects). It is the oracle for the fetch
// budget, independent of the count a kernel generator declares.

interface Fn { name: string; body: string }

/** The index of the bracket closing the one at `open`. */
function closing(s: string, open: number): number {
  const o = s[open], c = o === '{' ? '}' : ')';
  let depth = 0;
  for (let i = open; i < s.length; i++) {
    if (s[i] === o) depth++;
    else if (s[i] === c && --depth === 0) return i;
  }
  throw new Error(`glsl-fetches: unbalanced ${o} at ${open}`);
}

function functions(src: string): Map<string, Fn> {
  const fns = new Map<string, Fn>();
  const re = /\b(?:float|vec2|vec3|vec4|void|bool|int)\s+(\w+)\s*\(([^()]*)\)\s*\{/g;
  for (let m; (m = re.exec(src));) {
    const open = m.index + m[0].length - 1, close = closing(src, open);
    fns.set(m[1], { name: m[1], body: src.slice(open + 1, close) });
    re.lastIndex = close + 1;
  }
  return fns;
}

const stripComments = (s: string) => s.replace(/\/\*[\s\S]*?\*\//g, '').replace(/\/\/.*$/gm, '');

/** Fetches of a piece of code: direct texture2D calls, calls of known functions, loops multiplied out. */
function cost(code: string, fnCost: (name: string) => number, known: Set<string>): number {
  let total = 0;
  let i = 0;
  const loopRe = /\bfor\s*\(/g;
  const straight = (s: string) => {
    let n = (s.match(/\btexture2D\s*\(/g) ?? []).length;
    for (const m of s.matchAll(/\b(\w+)\s*\(/g)) if (known.has(m[1])) n += fnCost(m[1]);
    return n;
  };
  for (let m; (m = loopRe.exec(code));) {
    total += straight(code.slice(i, m.index));
    const hOpen = m.index + m[0].length - 1, hClose = closing(code, hOpen);
    const header = code.slice(hOpen + 1, hClose);
    const h = /^\s*int\s+(\w+)\s*=\s*(-?\d+)\s*;\s*(\w+)\s*<\s*(-?\d+)\s*;\s*(\w+)\s*\+\+\s*$/.exec(header);
    if (!h || h[1] !== h[3] || h[1] !== h[5]) throw new Error(`glsl-fetches: loop without constant bounds: for (${header})`);
    const trips = Math.max(0, Number(h[4]) - Number(h[2]));
    let j = hClose + 1;
    while (/\s/.test(code[j])) j++;
    let end: number, body: string;
    if (code[j] === '{') { end = closing(code, j); body = code.slice(j + 1, end); } else { end = code.indexOf(';', j); body = code.slice(j, end + 1); }
    total += trips * cost(body, fnCost, known);
    i = end + 1;
    loopRe.lastIndex = i;
  }
  return total + straight(code.slice(i));
}

/** Fetches one fragment makes: the cost of main(). */
export function fragmentFetches(source: string): number {
  const fns = functions(stripComments(source));
  const known = new Set(fns.keys());
  const memo = new Map<string, number>();
  const fnCost = (name: string): number => {
    const hit = memo.get(name);
    if (hit !== undefined) return hit;
    memo.set(name, NaN); // recursion is not GLSL ES; a NaN total would show it
    const c = cost(fns.get(name)!.body, fnCost, known);
    memo.set(name, c);
    return c;
  };
  if (!fns.has('main')) throw new Error('glsl-fetches: no main()');
  return fnCost('main');
}
