// Run Python inside the MicroPython VM (npm @micropython/micropython-webassembly-pyscript).
// One VM per node process. The host directories given with --mount are copied into the
// VM's filesystem, then the script is run; stdout/stderr pass through.
//   node tools/mpvm.mjs [--heap 4m] [--mount HOSTDIR:VMDIR ...] [--path VMDIR ...] (--run FILE | --exec CODE) [--async]
import { loadMicroPython } from "./node_modules/@micropython/micropython-webassembly-pyscript/micropython.mjs";
import fs from "fs";
import { parseSize, copyTree } from "./vmfs.mjs";

const args = process.argv.slice(2);
let heap = 4 * 1048576, mounts = [], paths = [], code = null, isAsync = false;
for (let i = 0; i < args.length; i++) {
  const a = args[i];
  if (a === "--heap") heap = parseSize(args[++i]);
  else if (a === "--mount") mounts.push(args[++i]);
  else if (a === "--path") paths.push(args[++i]);
  else if (a === "--run") code = fs.readFileSync(args[++i], "utf8");
  else if (a === "--exec") code = args[++i];
  else if (a === "--async") isAsync = true;
  else { console.error("mpvm: unknown argument " + a); process.exit(2); }
}
if (code === null) { console.error("mpvm: give --run FILE or --exec CODE"); process.exit(2); }

const out = (s) => process.stdout.write(s);
const mp = await loadMicroPython({ heapsize: heap, linebuffer: false,
  stdout: (b) => process.stdout.write(b), stderr: (b) => process.stderr.write(b) });

for (const m of mounts) {
  const [h, v] = m.split(":");
  copyTree(mp, h, v);
}
let prologue = "import sys\n";
for (const p of paths) prologue += `sys.path.append(${JSON.stringify(p)})\n`;
try {
  mp.runPython(prologue);
  if (isAsync) await mp.runPythonAsync(code);
  else mp.runPython(code);
} catch (e) {
  if (e.name === "PythonError") {
    if (e.type !== "SystemExit") { process.stderr.write(e.message + "\n"); process.exitCode = 1; }
  } else throw e;
}
