// Shared by the node tools that host a MicroPython VM (mpvm.mjs, vmboard.mjs, rp2040/board.mjs):
// copying host source trees into the VM's filesystem, and heap sizes like "8m".
import fs from "fs";
import path from "path";

export function parseSize(s) {
  const m = /^(\d+)([kKmM]?)$/.exec(String(s));
  if (!m) throw new Error("bad size " + s + " (give bytes, or a number with k or m)");
  return parseInt(m[1]) * ({ k: 1024, m: 1048576 }[m[2].toLowerCase()] || 1);
}

export function mkdirs(mp, p) {
  let cur = "";
  for (const part of p.split("/").filter(Boolean)) {
    cur += "/" + part;
    try { mp.FS.mkdir(cur); } catch (e) { /* exists */ }
  }
}

// Every .py file below host into vm (dot files, __pycache__ and node_modules left out); a host
// directory that does not exist copies nothing.
export function copyTree(mp, host, vm) {
  if (!fs.existsSync(host)) return;
  mkdirs(mp, vm);
  for (const ent of fs.readdirSync(host, { withFileTypes: true })) {
    if (ent.name === "__pycache__" || ent.name.startsWith(".") || ent.name === "node_modules") continue;
    const h = path.join(host, ent.name), v = vm + "/" + ent.name;
    if (ent.isDirectory()) copyTree(mp, h, v);
    else if (ent.name.endsWith(".py")) mp.FS.writeFile(v, fs.readFileSync(h));
  }
}
