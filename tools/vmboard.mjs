// The board inside the MicroPython VM, for tools/hostboard.py --runtime micropython.
// The firmware, the driver and the chip emulator all run in the VM (tools/vmboard.py, vm_main);
// only whole frames cross, over this process's stdin/stdout, as messages
//     [type: 1 byte][length: 4 bytes big-endian][payload]
// host -> board:  F frame | Q send the counters | X stop | L cable: "0" pulled, "1" plugged
// board -> host:  F frame | S counters (JSON text) | B the firmware's boot line | R ready (board MAC as text) | E error text
// The VM's own stdout/stderr (print, tracebacks) go to this process's stderr.
//   node tools/vmboard.mjs --chip w5500 --ip 10.7.0.2 --mask 255.255.255.0 [--gateway G] [--mac M]
//                          [--app main|echo] [--heap 8m] [--groups G1,G2]  (multicast groups the echo joins)
//                          [--hostname NAME]  (with --ip dhcp: the firmware takes a lease)
//                          [--main FILE] [--lib DIR1,DIR2]   (FILE runs as __main__ with tools/emuboard.py as its
//                          `board`; each DIR is copied to /lib/<its name>)
import { loadMicroPython } from "./node_modules/@micropython/micropython-webassembly-pyscript/micropython.mjs";
import fs from "fs";
import path from "path";
import { fileURLToPath } from "url";
import { parseSize, copyTree } from "./vmfs.mjs";

const ROOT = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const opt = { chip: "w5500", ip: null, mask: "255.255.255.0", gateway: "0.0.0.0", mac: "", app: "main", heap: "8m", groups: "", main: "", lib: "", hostname: "" };
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  const k = argv[i].replace(/^--/, "");
  if (!(k in opt) || i + 1 >= argv.length) { console.error("vmboard: bad argument " + argv[i]); process.exit(2); }
  opt[k] = argv[++i];
}
if (!opt.ip) { console.error("vmboard: --ip is required"); process.exit(2); }


function put(type, payload) {
  const b = Buffer.isBuffer(payload) ? payload : Buffer.from(payload, "utf8");
  const h = Buffer.alloc(5);
  h[0] = type.charCodeAt(0);
  h.writeUInt32BE(b.length, 1);
  process.stdout.write(Buffer.concat([h, b]));
}

// --- host -> board ---
const frames = [];
let statsWanted = false, stopping = false, waiter = null, link = null;
function wake() { if (waiter) { const w = waiter; waiter = null; w(true); } }
let inbuf = Buffer.alloc(0);
// What the host sent, read at once without the event loop: --main FILE may block in Python for long
// (a socket call driving the interface), and frames must still come in (vmboard_io.pump()).
const pumpBuf = Buffer.alloc(65536);
function pump() {
  for (;;) {
    let n = 0;
    try { n = fs.readSync(0, pumpBuf, 0, pumpBuf.length, null); } catch (e) { return; }  // EAGAIN: nothing
    if (n <= 0) { if (n === 0) { stopping = true; } return; }
    take(Buffer.from(pumpBuf.subarray(0, n)));
  }
}
process.stdin.on("data", (chunk) => { take(chunk); wake(); });
function take(chunk) {
  inbuf = inbuf.length ? Buffer.concat([inbuf, chunk]) : chunk;
  while (inbuf.length >= 5) {
    const n = inbuf.readUInt32BE(1);
    if (inbuf.length < 5 + n) break;
    const type = String.fromCharCode(inbuf[0]);
    const body = inbuf.subarray(5, 5 + n);
    inbuf = inbuf.subarray(5 + n);
    if (type === "F") frames.push(Buffer.from(body));
    else if (type === "Q") statsWanted = true;
    else if (type === "X") stopping = true;
    else if (type === "L") link = body.toString();
  }
}
process.stdin.on("end", () => { stopping = true; wake(); });
process.on("SIGTERM", () => { stopping = true; wake(); });
process.on("SIGINT", () => { stopping = true; wake(); });

const mp = await loadMicroPython({
  heapsize: parseSize(opt.heap), linebuffer: false,
  stdout: (b) => process.stderr.write(b), stderr: (b) => process.stderr.write(b),
});

mp.registerJsModule("vmboard_io", {
  recv: () => (frames.length ? frames.shift().toString("hex") : null),
  send: (hex) => put("F", Buffer.from(hex, "hex")),
  wait: (ms) => new Promise((res) => {
    if (frames.length || stopping || statsWanted || link !== null) { res(true); return; }
    const t = setTimeout(() => { waiter = null; res(false); }, ms);
    waiter = (v) => { clearTimeout(t); res(v); };
  }),
  stopping: () => stopping,
  pump: () => pump(),
  stats_wanted: () => { const w = statsWanted; statsWanted = false; return w; },
  link: () => { const l = link; link = null; return l; },
  stats: (json) => put("S", json),
  boot: (line) => put("B", line),
  ready: (mac) => put("R", mac),
});

copyTree(mp, path.join(ROOT, "lib"), "/lib");
copyTree(mp, path.join(ROOT, "tools", "emu"), "/tools/emu");
fs.existsSync(path.join(ROOT, "tools", "vmboard.py")) && mp.FS.writeFile("/tools/vmboard.py", fs.readFileSync(path.join(ROOT, "tools", "vmboard.py")));
copyTree(mp, path.join(ROOT, "firmware"), "/firmware");

for (const d of opt.lib.split(",").filter(Boolean)) copyTree(mp, d, "/lib/" + path.basename(d));
if (opt.main) {
  mp.FS.writeFile("/tools/emuboard.py", fs.readFileSync(path.join(ROOT, "tools", "emuboard.py")));
  mp.FS.writeFile("/main.py", fs.readFileSync(opt.main));
}
const code = opt.main ? `
import sys
sys.path.append("/lib")
sys.path.append("/tools")
import vmboard
await vmboard.vm_main_file(${JSON.stringify(opt.chip)}, ${JSON.stringify(opt.ip)}, ${JSON.stringify(opt.mask)},
                           ${JSON.stringify(opt.gateway)}, ${JSON.stringify(opt.mac)} or None, "/main.py",
                           hostname=${JSON.stringify(opt.hostname)} or None)
` : `
import sys
sys.path.append("/lib")
sys.path.append("/tools")
sys.path.append("/firmware")
import vmboard
await vmboard.vm_main(${JSON.stringify(opt.chip)}, ${JSON.stringify(opt.ip)}, ${JSON.stringify(opt.mask)},
                      ${JSON.stringify(opt.gateway)}, ${JSON.stringify(opt.mac)} or None, ${JSON.stringify(opt.app)},
                      groups=[g for g in ${JSON.stringify(opt.groups)}.split(",") if g],
                      hostname=${JSON.stringify(opt.hostname)} or None)
`;
try {
  await mp.runPythonAsync(code);
} catch (e) {
  if (e.name === "PythonError") {
    if (e.type !== "SystemExit") { put("E", e.message); process.stderr.write(e.message + "\n"); process.exitCode = 1; }
  } else { put("E", String(e && e.stack || e)); throw e; }
}
process.exit(process.exitCode || 0);
