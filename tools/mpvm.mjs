// Run Python inside the MicroPython VM (npm @micropython/micropython-webassembly-pyscript).
// One VM per node process. The host directories given with --mount are copied into the
// VM's filesystem, then the script is run; stdout/stderr pass through.
//   node tools/mpvm.mjs [--heap 4m] [--mount HOSTDIR:VMDIR ...] [--path VMDIR ...] (--run FILE | --exec CODE) [--async]
import { loadMicroPython } from "../node_modules/@micropython/micropython-webassembly-pyscript/micropython.mjs";
import fs from "fs";
import path from "path";

function parseSize(s) {
  const m = /^(\d+)([kKmM]?)$/.exec(s);
  if (!m) throw new Error("bad heap size " + s);
  return parseInt(m[1]) * (m[2].toLowerCase() === "k" ? 1024 : m[2].toLowerCase() === "m" ? 1048576 : 1);
}

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

function mkdirs(p) {
  let cur = "";
  for (const part of p.split("/").filter(Boolean)) {
    cur += "/" + part;
    try { mp.FS.mkdir(cur); } catch (e) { /* exists */ }
  }
}
function copyTree(host, vm) {
  mkdirs(vm);
  for (const ent of fs.readdirSync(host, { withFileTypes: true })) {
    if (ent.name === "__pycache__" || ent.name.startsWith(".")) continue;
    const h = path.join(host, ent.name), v = vm + "/" + ent.name;
    if (ent.isDirectory()) copyTree(h, v);
    else if (ent.name.endsWith(".py")) mp.FS.writeFile(v, fs.readFileSync(h));
  }
}
for (const m of mounts) {
  const [h, v] = m.split(":");
  copyTree(h, v);
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
