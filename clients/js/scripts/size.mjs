// The size budget of beacon.js as a page downloads it: minified by terser, gzipped at level 9.
// Prints the figures and exits 1 when the gzipped module is over LIMIT bytes.
import { readFileSync } from "node:fs";
import { gzipSync } from "node:zlib";

import { minify } from "terser";

const LIMIT = 3072;
const source = readFileSync(new URL("../beacon.js", import.meta.url), "utf8");
const { code } = await minify(source, { module: true, compress: { passes: 2 }, mangle: true });
const gzipped = gzipSync(code, { level: 9 }).length;
const verdict = gzipped <= LIMIT ? "within" : "OVER";
console.log(
  `beacon.js: ${source.length} bytes, ${code.length} minified, ${gzipped} minified and gzipped` +
    ` (${verdict} the ${LIMIT}-byte budget)`,
);
process.exit(gzipped <= LIMIT ? 0 : 1);
