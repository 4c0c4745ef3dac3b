// An emulated Raspberry Pi Pico running stock MicroPython (rp2040js), with a chip model on SPI0.
//
//   node tools/rp2040/board.mjs [--uf2 FILE] [--bootrom FILE] [--fs IMAGE] [--chip NAME]
//        [--pins sck,mosi,miso,cs,rst,int] [--bridge byte|w5500] [--pace] [--exec CODE] [--stdio]
//        [--serve] [--usb-raw] [--uid HEX]
//
// --chip: none (MISO floats high), loopback (JS model: MISO = the byte on MOSI), pyloop (the same
//   loopback written in Python and run in the MicroPython VM: measures the bridge), w5500 / enc28j60
//   (tools/emu/w5500.py W5500Chip / tools/emu/enc28j60.py ENC28J60Chip hosted in the MicroPython VM
//   inside this node process; SPI0 bytes are bridged to spi_select/spi_byte/spi_deselect), pymem (a
//   W5500-addressed 64 KB memory in Python: checks the bridge).
// --bridge byte|w5500: how SPI0 reaches a Python chip: one VM call per byte, or per chip-select
//   transaction in the W5500 frame format (default for w5500/pymem; see PyChipModel).
// --exec CODE: boot, run CODE through the raw REPL, print its stdout to stdout and its traceback to
//   stderr, exit 0 (1 if a traceback came back).
// --stdio: serve the host protocol below on stdin/stdout until told to quit (tools/rp2040/run.py).
// --pace: emulated time may not run ahead of wall time (use it when a real peer is on the wire).
// --serve: do not interrupt main.py at boot (the firmware serves); with --stdio, "ready" comes once
//   USB is up, main.py's output arrives as console events, and the first exec stops main.py (Ctrl-C).
// --usb-raw: with --stdio (implies --serve): the USB serial belongs to the host as a byte stream ('S'
//   messages both ways, e.g. relayed to a pseudo-terminal for mpremote); no raw REPL client here, so
//   exec and soft_reset are refused.
// --uid HEX: the flash chip's 8-byte unique ID (machine.unique_id(); default e6614104031b5a2f).
// Without --fs the flash holds the firmware only: MicroPython formats its own filesystem at boot, as a
// new board does. Flash writes work (the boot ROM's erase/program routines are hooked), and
// machine.reset() (the watchdog) reboots the chip keeping its flash: an {"event": "reset"} follows.
//
// Host protocol on stdin/stdout (--stdio). Every message, both directions:
//     u32 big-endian LENGTH, then LENGTH bytes: one TYPE byte and the payload.
//   TYPE 'F' (0x46): one whole Ethernet frame (no preamble, no FCS). Host -> board: delivered to the
//                    chip model's wire side (chip.deliver(frame)). Board -> host: a frame the chip sent.
//   TYPE 'S' (0x53): bytes of the USB serial (--usb-raw only). Host -> board: what a terminal sends;
//                    board -> host: what the firmware wrote.
//   TYPE 'J' (0x4A): a UTF-8 JSON object.
//     host -> board: {"id": N, "op": "exec", "code": "...", "timeout": SECONDS}
//                    {"id": N, "op": "soft_reset"}  (Ctrl-D: fresh heap, boot.py runs, main.py not)
//                    {"id": N, "op": "chip_eval", "expr": "chip.counters()"}  (Python chip: repr of the
//                      expression evaluated in the chip's VM, e.g. for its violations and counters)
//                    {"id": N, "op": "stats"}   {"id": N, "op": "pace", "on": true|false}
//                    {"id": N, "op": "serial", "data": "..."}  (raw bytes to the REPL, latin-1)
//                    {"id": N, "op": "quit"}
//     board -> host: {"id": N, "ok": true|false, ...}: exec answers stdout, stderr, emu_ms, wall_ms;
//                    stats answers emu_ms, wall_ms, spi_bytes, frames_in, frames_out, ...
//                    {"event": "ready", "banner": "..."} once the raw REPL answered;
//                    {"event": "console", "data": "..."} for REPL output outside an exec (main.py);
//                    {"event": "reset", "emu_ms": T} when the firmware reset the chip (watchdog);
//                    {"event": "error", "message": "..."}.
// Nothing else is written to stdout in --stdio mode; diagnostics go to stderr.
//
// Facts this file relies on (shared/rp2040/README.md): rp2040js's USBCDC answers every OUT read at
// once (with an empty packet when the host has nothing), keeping the firmware in USB interrupts: we
// answer a read only when the host has bytes. An SPI byte completes 8 bit-times later on a clock
// alarm, or the 8-entry RX FIFO overflows under DMA. rp2040js reads a driven output pin as 0 in
// GPIO_IN: the driven level is fed back as real silicon does.

import { RP2040, USBCDC, GPIOPinState, LogLevel } from "rp2040js";
import fs from "fs";
import path from "path";
import { fileURLToPath } from "url";
import { performance } from "perf_hooks";
import { copyTree } from "../vmfs.mjs";

// stdout carries the host protocol in --stdio mode: every library message goes to stderr. rp2040js
// warns about the SIO inter-core FIFO (0x50/0x58, read by MicroPython's soft reset), which it lacks.
const _warn = console.warn.bind(console);
console.log = console.info = console.debug = (...a) => process.stderr.write(a.join(" ") + "\n");
console.warn = (...a) => { if (!/invalid SIO address: 5[08]\b/.test(String(a[0]))) _warn(...a); };

const HERE = path.dirname(fileURLToPath(import.meta.url));
export const ROOT = path.resolve(HERE, "..", "..");
export const SHARED = path.resolve(ROOT, "..", "shared", "rp2040");
export const FS_OFFSET = 0xa0000;
export const FS_BLOCK = 4096;
export const FS_BLOCKS = 352;
const FLASH_BASE = 0x10000000;
const IDLE_YIELD_NS = 1e6;

// Default wiring: SPI0 on GP18/19/16 and the W5500-EVB-Pico's CS GP17, RST GP20, INT GP21
// (boards/pico_w5500.py holds the same numbers for the device side).
export const DEFAULT_PINS = { sck: 18, mosi: 19, miso: 16, cs: 17, rst: 20, int: 21 };

// ---------------------------------------------------------------- firmware images
export function loadUF2(flash, data) {
  let blocks = 0;
  for (let off = 0; off + 512 <= data.length; off += 512) {
    const v = new DataView(data.buffer, data.byteOffset + off, 512);
    if (v.getUint32(0, true) !== 0x0a324655 || v.getUint32(4, true) !== 0x9e5d5157) continue;
    if (v.getUint32(508, true) !== 0x0ab16f30) continue;
    const flags = v.getUint32(8, true);
    if (flags & 1) continue; // "not main flash"
    const addr = v.getUint32(12, true), size = v.getUint32(16, true);
    if (addr < FLASH_BASE || size > 476) throw new Error("UF2 block for 0x" + addr.toString(16));
    flash.set(data.subarray(off + 32, off + 32 + size), addr - FLASH_BASE);
    blocks++;
  }
  if (!blocks) throw new Error("no UF2 blocks for main flash");
  return blocks;
}

// ---------------------------------------------------------------- SPI device models (JS side)
// A model: { select(), deselect(), byte(b) -> int, rst?(level), intLevel?(), deliver?(frame), attach?(board) }.
export class FloatingModel {
  select() {}
  deselect() {}
  byte() { return 0xff; }
}

export class LoopbackModel {
  constructor() { this.selects = 0; this.bytes = 0; }
  select() { this.selects++; }
  deselect() {}
  byte(b) { this.bytes++; return b; }
}

// A Python chip model inside the MicroPython VM (npm micropython-webassembly), one VM per process.
// The chip object implements tools/emu/spi.py's chip side: spi_select(), spi_deselect(),
// spi_byte(b) -> int, deliver(frame), on_transmit = callable(frame); optional int_level() / reset().
export class PyChipModel {
  static async create(opts) {
    const { loadMicroPython } = await import(
      "../node_modules/@micropython/micropython-webassembly-pyscript/micropython.mjs");
    const mp = await loadMicroPython({ heapsize: opts.heap || 8 * 1048576, linebuffer: true,
      stdout: (s) => process.stderr.write("[chip] " + s + "\n"),
      stderr: (s) => process.stderr.write("[chip!] " + s + "\n") });
    const m = new PyChipModel();
    m.mp = mp;
    copyTree(mp, path.join(ROOT, "tools", "emu"), "/tools/emu");
    copyTree(mp, path.join(ROOT, "lib"), "/lib");
    mp.runPython("import sys\nsys.path.append('/tools')\nsys.path.append('/lib')\n");
    mp.runPython(opts.setup); // must bind a global `chip`
    const chip = mp.globals.get("chip");
    m.chip = chip;
    // bind the calls once: each JS->Python call goes through the proxy layer
    m._sel = chip.spi_select;
    m._desel = chip.spi_deselect;
    m._byte = chip.spi_byte;
    m._deliver = mp.globals.get("_deliver");
    m._rst = mp.globals.get("_rst");
    m._end = mp.globals.get("_end");
    m._wrEnd = mp.globals.get("_wr_end");
    m._hdr = mp.globals.get("_hdr");
    m._peek = mp.globals.get("_peek");
    m._rdEnd = mp.globals.get("_rd_end");
    m.mode = opts.mode || "byte";
    m.int = !!mp.globals.get("_int_level")();
    m.calls = 0;
    m.onFrame = null;
    mp.globals.set("_js_transmit", (frame) => { if (m.onFrame) m.onFrame(frame); });
    mp.runPython(
      "def _tx(frame):\n    _js_transmit(binascii.hexlify(frame).decode())\n" +
      "if hasattr(chip, 'on_transmit'):\n    chip.on_transmit = _tx\n");
    return m;
  }
  // Bridge modes. "byte": every SPI byte is one call into the VM (exact for any chip).
  // "w5500": per chip-select transaction, for the W5500 frame format (2 address bytes, a control
  // byte: BSB in bits 7..3, RWB bit 2, OM bits 1..0), with the same MISO and side effects as "byte":
  //  - header: MISO 01 02 03 (W5500 fact sheet section 1), answered in JS; then one call clocks the
  //    header into the chip (_hdr);
  //  - VDM write (RWB=1, OM=0): data collected in JS, MISO 00 (what the chip gives), handed over in
  //    one call at chip-select rise (_wr_end: select, spi_xfer, deselect);
  //  - VDM read of a TX/RX buffer block: MISO read ahead from the buffer memory without side effects
  //    (_peek), then at chip-select rise the bytes actually clocked are replayed through spi_xfer so
  //    the chip's bookkeeping (address, stale-read count) is exact (_rd_end);
  //  - register reads and FDM frames (OM != 0): one call per byte, as in "byte" mode.
  select() {
    this.n = 0;
    if (this.mode !== "w5500") { this._sel(); return; }
    this.hdr = [];
    this.phase = 0; // 0 header, 1 write, 2 buffer read, 3 per byte
    this.wr = null;
    this.rd = null;
    this.rdPos = 0;
    this.rdCount = 0;
    this.rdBlock = 2;
  }
  deselect() {
    if (this.mode !== "w5500") { this.int = !!this._end(); return; }
    const ph = this.phase;
    if (ph === 0 || ph === 1) {
      const all = this.hdr.concat(this.wr || []);
      this.int = !!this._wrEnd(Buffer.from(all).toString("hex")); // select + bytes + deselect
    } else if (ph === 2) {
      this.int = !!this._rdEnd(this.rdCount);
    } else {
      this.int = !!this._end();
    }
  }
  byte(b) {
    if (this.mode !== "w5500") return this._byte(b);
    const ph = this.phase;
    if (ph === 0) {
      this.hdr.push(b);
      const k = this.hdr.length;
      if (k === 3) {
        const bsb = b >> 3, om = b & 3;
        if (b & 4 && om === 0) this.phase = 1;
        else {
          this._hdr(Buffer.from(this.hdr).toString("hex")); // select + header
          this.phase = om === 0 && bsb <= 0x1f && (bsb & 3) >= 2 ? 2 : 3;
          this.bsb = bsb;
          this.addr = (this.hdr[0] << 8) | this.hdr[1];
        }
      }
      return k;
    }
    if (ph === 1) {
      if (!this.wr) this.wr = [];
      this.wr.push(b);
      return 0;
    }
    if (ph === 2) {
      if (!this.rd || this.rdPos >= this.rd.length) {
        this.rd = Buffer.from(this._peek(this.bsb, (this.addr + this.rdCount) & 0xffff, this.rdBlock), "hex");
        this.rdPos = 0;
        this.rdBlock = Math.min(this.rdBlock * 16, 2048);
      }
      this.rdCount++;
      return this.rd[this.rdPos++];
    }
    return this._byte(b);
  }
  rst(level) { this.int = !!this._rst(level ? 1 : 0); }
  // A chip that times itself (tools/emu/enc28j60.py: chip.clock, for errata 2's 1 ms after reset)
  // runs on the Pico's emulated clock, not node's: paced emulation catches up with wall time in bursts,
  // so 2 ms of the firmware's sleep can take less than 1 ms of wall time.
  attach(board) {
    this.mp.globals.set("_js_emu_ms", () => Math.floor(board.emuMs));
    this.mp.runPython("if hasattr(chip, 'clock'):\n    chip.clock = lambda: int(_js_emu_ms()) & 0x3FFFFFFF\n");
  }
  intLevel() { return this.int; }
  deliver(frame) { if (this._deliver) this.int = !!this._deliver(Buffer.from(frame).toString("hex")); }
}

const PY_GLUE = `
import binascii
def _deliver(h):
    f = getattr(chip, 'deliver', None)
    if f is not None:
        f(binascii.unhexlify(h))
    return _int_level()
def _int_level():
    f = getattr(chip, 'int_level', None)
    if f is not None:
        return 1 if f() else 0
    p = getattr(chip, 'intn', None) or getattr(chip, 'int_pin', None)
    if p is not None:
        return p.value() if hasattr(p, 'value') else (1 if p else 0)
    return 1
def _rst(level):
    f = getattr(chip, 'rst_changed', None)
    if f is not None:
        f(level)
    elif level:
        f = getattr(chip, 'reset', None)
        if f is not None:
            f()
    return _int_level()
_sb = chip.spi_byte
def _end():
    chip.spi_deselect()
    return _int_level()
def _wr_end(h):
    chip.spi_select()
    d = binascii.unhexlify(h)
    x = getattr(chip, 'spi_xfer', None)
    if x is not None:
        x(d, None, len(d), 0)
    else:
        for v in d:
            _sb(v)
    chip.spi_deselect()
    return _int_level()
def _hdr(h):
    chip.spi_select()
    for v in binascii.unhexlify(h):
        _sb(v)
def _peek(bsb, a, n):
    s = bsb >> 2
    if bsb & 3 == 3:
        mem, base, size = chip.rxmem, chip.rx_base[s], chip.rx_size[s]
    else:
        mem, base, size = chip.txmem, chip.tx_base[s], chip.tx_size[s]
    r = bytearray(n)
    if size:
        m = size - 1
        for k in range(n):
            r[k] = mem[base + ((a + k) & m)]
    return binascii.hexlify(r).decode()
def _rd_end(n):
    if n:
        x = getattr(chip, 'spi_xfer', None)
        if x is not None:
            x(None, None, n, 0)
        else:
            for i in range(n):
                _sb(0)
    chip.spi_deselect()
    return _int_level()
`;

export const CHIPS = {
  pyloop: "class _Loop:\n    def spi_select(self):\n        pass\n    def spi_deselect(self):\n        pass\n" +
    "    def spi_byte(self, b):\n        return b\nchip = _Loop()\n",
  // W5500-style memory (16-bit address, control byte bit 2 = write): checks the transaction bridge
  pymem: "class _Mem:\n    def __init__(self):\n        self.mem = bytearray(65536)\n        self.n = 0\n" +
    "    def spi_select(self):\n        self.n = 0\n    def spi_deselect(self):\n        pass\n" +
    "    def spi_byte(self, b):\n        n = self.n\n        self.n = n + 1\n" +
    "        if n == 0:\n            self.addr = b << 8\n            return 1\n" +
    "        if n == 1:\n            self.addr |= b\n            return 2\n" +
    "        if n == 2:\n            self.ctl = b\n            return 3\n" +
    "        a = self.addr & 0xFFFF\n        self.addr = a + 1\n" +
    "        if self.ctl & 4:\n            self.mem[a] = b\n            return 0\n" +
    "        return self.mem[a]\n" +
    "    rxmem = txmem = property(lambda self: self.mem)\n    rx_base = tx_base = [0] * 8\n" +
    "    rx_size = tx_size = [65536] * 8\nchip = _Mem()\n",
  w5500: "from emu.w5500 import W5500Chip\nchip = W5500Chip()\n",
  enc28j60: "from emu.enc28j60 import ENC28J60Chip\nchip = ENC28J60Chip()\n",
};

// Default bridge mode per chip (--bridge overrides): the W5500 frame format allows batching.
const BRIDGE = { pymem: "w5500", w5500: "w5500" };

export async function makeModel(name, bridge) {
  if (!name || name === "none") return new FloatingModel();
  if (name === "loopback") return new LoopbackModel();
  const setup = CHIPS[name] || (name.startsWith("py:") ? name.slice(3).replace(/\\n/g, "\n") : null);
  if (!setup) throw new Error("unknown chip " + name);
  return PyChipModel.create({ setup: setup + PY_GLUE, mode: bridge || BRIDGE[name] || "byte" });
}

// ---------------------------------------------------------------- the board
export class Board {
  constructor(opts = {}) {
    this.opts = opts;
    this.pins = Object.assign({}, DEFAULT_PINS, opts.pins || {});
    this.emuBase = 0; // emulated nanoseconds of the runs before the last reset
    this.rebootPending = false;
    this.serialListeners = new Set();
    this.external = new Map(); // pin -> level driven from outside (e.g. INTn)
    this.pinListeners = new Map(); // pin -> the chip model's listener (CS, RST)
    this.onReset = null;
    this._newMcu(null);
    this.stopped = true;
    this.pace = !!opts.pace;
    this.paceBase = null;
    this.wallStart = performance.now();
    this.emuStartNanos = 0;
    this.stats = { spi_bytes: 0, spi_selects: 0, frames_in: 0, frames_out: 0, usb_in: 0, usb_out: 0, instr: 0,
      flash_erased: 0, flash_programmed: 0, resets: 0 };
    this._setupUSB();
    this._setupGPIO();
    this._setupSPI();
    this.model = new FloatingModel();
  }

  // A fresh RP2040 (power-on state) with the firmware and filesystem images, or with the flash of
  // the one before it (a reset keeps the flash, as on the board).
  _newMcu(flash) {
    const opts = this.opts;
    const mcu = new RP2040();
    this.mcu = mcu;
    mcu.logger = { debug() {}, info() {}, warn(c, m) { if (opts.verbose) process.stderr.write(`[${c}] ${m}\n`); },
      error(c, m) { process.stderr.write(`[rp2040 ${c}] ${m}\n`); }, logLevel: LogLevel.Error };
    const rom = fs.readFileSync(opts.bootrom || path.join(SHARED, "rp2040-bootrom-B1.bin"));
    mcu.loadBootrom(new Uint32Array(rom.buffer, rom.byteOffset, rom.length >> 2)); // fills the flash with 0xff
    if (flash) mcu.flash.set(flash);
    else {
      this.uf2Blocks = loadUF2(mcu.flash, fs.readFileSync(opts.uf2 || path.join(SHARED, "micropython-v1.28.0-RPI_PICO.uf2")));
      if (opts.fs) {
        const img = fs.readFileSync(opts.fs);
        if (img.length > FS_BLOCK * FS_BLOCKS) throw new Error("filesystem image larger than 352 blocks");
        mcu.flash.set(img, FS_OFFSET);
      }
    }
    this._hookFlash();
    this._hookFlashId();
    // machine.reset() and a watchdog timeout trigger the watchdog: reboot at the next slice
    mcu.peripherals[0x40058].onWatchdogTrigger = () => { this.rebootPending = true; };
    mcu.core.PC = FLASH_BASE;
  }

  // rp2040js has no flash chip behind the SSI: the boot ROM's flash_range_erase and
  // flash_range_program (codes 'RE', 'RP' in its function table, which the pico-sdk calls) would
  // return having done nothing, so MicroPython could not write its filesystem. Their first
  // instruction becomes a BKPT that does the work on mcu.flash (NOR: erase to 0xff, program ANDs)
  // and returns to the caller.
  _hookFlash() {
    const mcu = this.mcu, rom = mcu.bootrom;
    const rd16 = (a) => (rom[a >> 2] >>> ((a & 2) * 8)) & 0xffff;
    const patch = (a, v) => {
      const w = rom[a >> 2], sh = (a & 2) * 8;
      rom[a >> 2] = ((w & ~(0xffff << sh)) | (v << sh)) >>> 0;
    };
    const codes = { 0x4552: 0xe0, 0x5052: 0xe1 }; // 'R','E' and 'R','P', little-endian
    let found = 0;
    for (let t = rd16(0x14); rd16(t); t += 4) {
      const bk = codes[rd16(t)];
      if (bk !== undefined) { patch(rd16(t + 2) & ~1, 0xbe00 | bk); found++; }
    }
    if (found !== 2) throw new Error("boot ROM: flash_range_erase/program not found in its function table");
    const sectors = 4096;
    mcu.onBreak = (code) => {
      const core = mcu.core, r = core.registers;
      if (code === 0xe0) { // flash_range_erase(addr, count, block_size, block_cmd)
        const a = r[0] & ~(sectors - 1), end = (r[0] + r[1] + sectors - 1) & ~(sectors - 1);
        mcu.flash.fill(0xff, a, Math.min(end, mcu.flash.length));
        this.stats.flash_erased += end - a;
      } else if (code === 0xe1) { // flash_range_program(addr, data, count)
        const a = r[0], src = r[1], n = r[2];
        for (let i = 0; i < n && a + i < mcu.flash.length; i++) mcu.flash[a + i] &= mcu.readUint8(src + i);
        this.stats.flash_programmed += n;
      } else return;
      core.PC = core.LR & ~1; // bx lr
    };
  }

  // The flash chip's unique ID (W25Q16JV "Read Unique ID", 0x4B, 4 dummy bytes, then 8 ID bytes),
  // which machine.unique_id() returns (the pico-sdk reads it over the SSI at boot) and our driver's
  // default MAC comes from. rp2040js has no flash chip behind the SSI (every DR0 read gives the
  // same byte: an all-zero ID, so each boot made up a random MAC). A board keeps its ID across
  // resets: --uid HEX (16 hex digits) or a fixed default. Other commands keep rp2040js's behaviour.
  _hookFlashId() {
    const ssi = this.mcu.peripherals[0x18000];
    const uid = Buffer.from(this.opts.uid || "e6614104031b5a2f", "hex");
    if (uid.length !== 8) throw new Error("--uid: give 16 hex digits (the flash's 8-byte unique ID)");
    const write = ssi.writeUint32.bind(ssi), read = ssi.readUint32.bind(ssi);
    const SSI_DR0 = 0x60, RUID = 0x4b, LEN = 13; // command + 4 dummy + 8 ID bytes
    let pos = -1;
    const answers = [];
    ssi.writeUint32 = (offset, value) => {
      if (offset === SSI_DR0 && (pos >= 0 || (value & 0xff) === RUID)) {
        if (pos < 0) pos = 0;
        answers.push(pos >= 5 ? uid[pos - 5] : 0);
        if (++pos === LEN) pos = -1;
        return;
      }
      write(offset, value);
    };
    ssi.readUint32 = (offset) => (offset === SSI_DR0 && answers.length ? answers.shift() : read(offset));
  }

  // The watchdog fired: a new chip keeping the flash; the chip model on SPI stays as it is (its own
  // reset comes from the firmware through RST). USB goes away and enumerates again.
  _reboot() {
    this.rebootPending = false;
    const old = this.mcu;
    this.emuBase += old.clock.nanos;
    if (this.selected) { this.selected = false; this.model.deselect(); }
    this._newMcu(old.flash);
    // the watchdog's reason and scratch registers survive its reset (RP2040 datasheet 4.7)
    const wdOld = old.peripherals[0x40058], wd = this.mcu.peripherals[0x40058];
    wd.reason = wdOld.reason;
    wd.scratchData.set(wdOld.scratchData);
    this.paceBase = null;
    this.stats.resets++;
    this._setupUSB();
    this._setupGPIO();
    this._setupSPI();
    for (const [idx, level] of this.external) this.driveInput(idx, level);
    if (this.onReset) this.onReset();
  }

  // --- USB CDC: the REPL
  _setupUSB() {
    const cdc = new USBCDC(this.mcu.usbCtrl);
    this.cdc = cdc;
    this.hostQueue = []; // Uint8Arrays waiting for the device to read
    this.pendingRead = null; // {endpoint, size} the device armed while we had nothing
    this.connected = false;
    cdc.onDeviceConnected = () => { this.connected = true; this._kick(); };
    cdc.onSerialData = (buf) => {
      this.stats.usb_in += buf.length;
      for (const l of this.serialListeners) l(buf);
    };
    // Replace USBCDC's read handler: answer only when the host has bytes (README: 3x faster).
    const usb = this.mcu.usbCtrl;
    usb.onEndpointRead = (endpoint, size) => {
      if (endpoint !== cdc.outEndpoint) return;
      this.pendingRead = { endpoint, size };
      this._answerRead();
    };
  }

  _answerRead() {
    const pr = this.pendingRead;
    if (!pr || !this.hostQueue.length) return;
    const n = Math.min(pr.size, 64);
    const out = new Uint8Array(n);
    let k = 0;
    while (k < n && this.hostQueue.length) {
      const head = this.hostQueue[0];
      const take = Math.min(n - k, head.length);
      out.set(head.subarray(0, take), k);
      k += take;
      if (take === head.length) this.hostQueue.shift();
      else this.hostQueue[0] = head.subarray(take);
    }
    this.pendingRead = null;
    this.stats.usb_out += k;
    this.mcu.usbCtrl.endpointReadDone(pr.endpoint, out.subarray(0, k));
  }

  serialWrite(data) {
    const b = typeof data === "string" ? Buffer.from(data, "latin1") : data;
    if (!b.length || !this.connected) return; // no USB device (booting, resetting): nobody reads
    this.hostQueue.push(new Uint8Array(b));
    this._answerRead();
    this._kick();
  }

  async waitConnected(timeoutMs = 30000) {
    const t0 = performance.now();
    while (!this.connected) {
      if (performance.now() - t0 > timeoutMs) throw new Error("USB CDC never connected");
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  // --- GPIO: read-back of driven outputs, external levels for inputs
  _setupGPIO() {
    this.mcu.gpio.forEach((pin, idx) => {
      pin.addListener((v, old) => {
        if (v === GPIOPinState.Low || v === GPIOPinState.High) pin.setInputValue(v === GPIOPinState.High);
        else if (this.external.has(idx)) pin.setInputValue(this.external.get(idx));
        else if (v === GPIOPinState.InputPullUp) pin.setInputValue(true);
        else if (v === GPIOPinState.InputPullDown) pin.setInputValue(false);
        const l = this.pinListeners.get(idx);
        if (l) l(v, old);
      });
    });
  }

  driveInput(idx, level) {
    this.external.set(idx, !!level);
    const pin = this.mcu.gpio[idx];
    if (pin.value !== GPIOPinState.Low && pin.value !== GPIOPinState.High) pin.setInputValue(!!level);
  }

  // --- SPI0 -> model, each byte completing after 8 SPI bit-times on a clock alarm
  _setupSPI() {
    const spi = this.mcu.spi[0];
    let rx = 0;
    const alarm = this.mcu.clock.createAlarm(() => spi.completeTransmit(rx));
    this.selected = false;
    spi.onTransmit = (value) => {
      this.stats.spi_bytes++;
      const m = this.model;
      if (this.inReset) rx = 0xff;
      else if (this.pins.cs >= 0 && !this.selected) rx = 0xff; // chip ignores the clock
      else rx = m.byte(value & 0xff) & 0xff;
      const hz = spi.clockFrequency || 1e6;
      alarm.schedule(Math.max(1, Math.round(8e9 / hz)));
    };
  }

  _updateInt() {
    if (this.pins.int < 0 || !this.model.intLevel) return;
    const level = this.model.intLevel();
    if (this.external.get(this.pins.int) !== level) this.driveInput(this.pins.int, level);
  }

  attachModel(model) {
    this.model = model;
    const { cs, rst, int: intPin } = this.pins;
    this.inReset = false;
    if (cs >= 0) {
      this.pinListeners.set(cs, (v, old) => {
        if (v === GPIOPinState.Low) { this.selected = true; this.stats.spi_selects++; model.select(); }
        else if (old === GPIOPinState.Low) {
          this.selected = false; model.deselect();
          if (model.intLevel) this._updateInt();
        }
      });
    }
    if (rst >= 0) {
      this.pinListeners.set(rst, (v, old) => {
        if (v === GPIOPinState.Low) { this.inReset = true; if (model.rst) model.rst(0); }
        else if (old === GPIOPinState.Low) { this.inReset = false; if (model.rst) model.rst(1); this._updateInt(); }
      });
    }
    if (intPin >= 0) this.driveInput(intPin, model.intLevel ? model.intLevel() : true);
    if (model.attach) model.attach(this);
  }

  // Deliver a frame from the wire to the chip model.
  deliverFrame(frame) {
    this.stats.frames_in++;
    if (this.model.deliver) this.model.deliver(frame);
    this._updateInt();
    this._kick();
  }

  // --- time
  get emuNanos() { return this.emuBase + this.mcu.clock.nanos; }
  get emuMs() { return this.emuNanos / 1e6; }
  setPace(on) {
    this.pace = !!on;
    this.paceBase = on ? { wall: performance.now(), emu: this.mcu.clock.nanos } : null;
    this._kick();
  }
  // emulated nanos we may reach now (Infinity when not pacing)
  _limit() {
    if (!this.pace) return Infinity;
    if (!this.paceBase) this.paceBase = { wall: performance.now(), emu: this.mcu.clock.nanos };
    return this.paceBase.emu + (performance.now() - this.paceBase.wall) * 1e6;
  }

  // --- running
  start() {
    if (!this.stopped) return;
    this.stopped = false;
    setImmediate(() => this._slice());
  }
  stop() {
    this.stopped = true;
    if (this.sleeping) { clearTimeout(this.sleeping); this.sleeping = null; }
  }
  _kick() {
    // an external event (host bytes, a frame): run again soon if we were sleeping on a timeout
    if (this.sleeping && !this.stopped) {
      clearTimeout(this.sleeping);
      this.sleeping = null;
      setImmediate(() => this._slice());
    }
  }
  _slice() {
    if (this.stopped) return;
    if (this.rebootPending) this._reboot();
    const { mcu } = this;
    const core = mcu.core, clock = mcu.clock;
    const cycleNanos = 8; // 125 MHz
    const wallEnd = performance.now() + (this.opts.sliceMs || 15);
    const limit = this._limit();
    let n = 0, i = 0, idle = 0;
    for (;;) {
      if (core.waiting) {
        let dt = clock.nanosToNextAlarm;
        if (dt <= 0) dt = 1000;
        if (clock.nanos + dt > limit) {
          // paced and idle: sleep until wall time catches up with the next alarm
          const sleepMs = Math.max(1, Math.min(20, (clock.nanos + dt - limit) / 1e6));
          if (limit > clock.nanos) clock.tick(limit - clock.nanos);
          this.sleeping = setTimeout(() => { this.sleeping = null; this._slice(); }, sleepMs);
          return;
        }
        clock.tick(dt);
        // Idle firmware often waits for the host (USB bytes, a frame), which node delivers only
        // between slices: after 1 ms of emulated idleness let it in, rather than idling on for the
        // rest of a 15 ms wall slice (a raw-REPL round trip took up to 15 ms more: 2x slower copies).
        idle += dt;
        if (idle >= IDLE_YIELD_NS) break;
      } else {
        clock.tick(core.executeInstruction() * cycleNanos);
        n++;
      }
      if ((++i & 0x3ff) === 0) {
        if (this.stopped) { this.stats.instr += n; return; }
        if (this.rebootPending || performance.now() >= wallEnd) break;
        if (clock.nanos > limit) {
          this.stats.instr += n;
          this.sleeping = setTimeout(() => { this.sleeping = null; this._slice(); }, 1);
          return;
        }
      }
    }
    this.stats.instr += n;
    setImmediate(() => this._slice());
  }
}

// ---------------------------------------------------------------- raw REPL client
export class RawRepl {
  constructor(board) {
    this.board = board;
    this.buf = "";
    this.waiter = null;
    this.raw = false;
    this.passthrough = null; // called with text that arrives while nobody waits
    board.serialListeners.add((b) => {
      this.buf += Buffer.from(b).toString("latin1");
      this._check();
    });
  }
  _check() {
    const w = this.waiter;
    if (!w) {
      if (this.passthrough && this.buf.length && !this.busy) { const s = this.buf; this.buf = ""; this.passthrough(s); }
      return;
    }
    const i = this.buf.indexOf(w.pattern);
    if (i >= 0) {
      const out = this.buf.slice(0, i + w.pattern.length);
      this.buf = this.buf.slice(i + w.pattern.length);
      this.waiter = null;
      clearTimeout(w.timer);
      w.resolve(out);
    }
  }
  readUntil(pattern, timeoutMs) {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiter = null;
        const e = new Error(`timeout after ${timeoutMs} ms waiting for ${JSON.stringify(pattern)}; have ${JSON.stringify(this.buf.slice(-200))}`);
        e.partial = this.buf;
        reject(e);
      }, timeoutMs);
      this.waiter = { pattern, resolve, timer };
      this._check();
    });
  }
  waitConnected(timeoutMs = 30000) { return this.board.waitConnected(timeoutMs); }
  async enter(timeoutMs = 30000) {
    this.busy = true;
    await this.waitConnected(timeoutMs);
    // Ctrl-C twice stops main.py or whatever runs; then Ctrl-A to the raw REPL. A Ctrl-C that
    // arrives while the firmware is still booting (before main.py runs, when the interrupt
    // character is not armed) is only a byte in the input buffer and main.py then runs on, so
    // Ctrl-C is sent again every second until the friendly prompt shows.
    let banner = "";
    const t0 = performance.now();
    for (;;) {
      this.board.serialWrite("\r\x03\x03");
      const left = timeoutMs - (performance.now() - t0);
      try {
        banner += await this.readUntil(">>> ", Math.max(1, Math.min(1000, left)));
        break;
      } catch (e) {
        banner += e.partial || "";
        this.buf = "";
        if (performance.now() - t0 >= timeoutMs) break;
      }
    }
    await new Promise((r) => setTimeout(r, 20));
    banner += this.buf;
    this.buf = "";
    this.board.serialWrite("\x01");
    await this.readUntil("raw REPL; CTRL-B to exit\r\n>", timeoutMs);
    this.raw = true;
    this.busy = false;
    return banner;
  }
  // Soft reset (Ctrl-D at the raw prompt): a fresh heap and module table; main.py does not run
  // in raw REPL mode, boot.py does.
  async softReset(timeoutMs = 30000) {
    if (!this.raw) return this.enter(timeoutMs);
    this.busy = true;
    try {
      this.buf = "";
      this.board.serialWrite("\x04");
      return await this.readUntil("raw REPL; CTRL-B to exit\r\n>", timeoutMs);
    } finally {
      this.busy = false;
    }
  }
  // Runs code; resolves {stdout, stderr}. stderr holds the traceback when there was one.
  async exec(code, timeoutMs = 60000) {
    if (!this.raw) await this.enter();
    this.busy = true;
    try {
      if (this.buf.length && this.passthrough) { this.passthrough(this.buf); }
      this.buf = "";
      this.board.serialWrite(Buffer.from(code, "utf8"));
      this.board.serialWrite("\x04");
      const ok = await this.readUntil("OK", timeoutMs);
      if (!ok.endsWith("OK") || ok.length > 2 + 64) {
        // anything before OK is junk from an earlier run; keep it visible
        if (this.passthrough && ok.length > 2) this.passthrough(ok.slice(0, -2));
      }
      let out;
      try {
        out = await this.readUntil("\x04", timeoutMs);
      } catch (e) {
        // interrupt the code and resync with the prompt
        this.board.serialWrite("\x03");
        try { await this.readUntil("\x04>", 5000); } catch (e2) { this.raw = false; }
        e.message = "exec " + e.message;
        throw e;
      }
      const err = await this.readUntil("\x04", timeoutMs);
      await this.readUntil(">", timeoutMs);
      const dec = (s) => Buffer.from(s, "latin1").toString("utf8");
      return { stdout: dec(out.slice(0, -1)), stderr: dec(err.slice(0, -1)) };
    } finally {
      this.busy = false;
    }
  }
}

// ---------------------------------------------------------------- frame + JSON protocol on stdio
function writeMsg(type, payload) {
  const body = typeof payload === "string" ? Buffer.from(payload, "utf8") : Buffer.from(payload);
  const hdr = Buffer.alloc(5);
  hdr.writeUInt32BE(body.length + 1, 0);
  hdr[4] = type.charCodeAt(0);
  process.stdout.write(Buffer.concat([hdr, body]));
}

function sendJSON(obj) { writeMsg("J", JSON.stringify(obj)); }

async function serveStdio(board, repl) {
  if (repl) repl.passthrough = (s) => sendJSON({ event: "console", data: Buffer.from(s, "latin1").toString("utf8") });
  else board.serialListeners.add((b) => writeMsg("S", b));
  board.onReset = () => {
    if (repl) { repl.raw = false; repl.buf = ""; }
    sendJSON({ event: "reset", emu_ms: board.emuMs });
  };
  if (board.model.onFrame !== undefined || board.model instanceof PyChipModel) {
    board.model.onFrame = (hex) => { board.stats.frames_out++; writeMsg("F", Buffer.from(hex, "hex")); };
  }
  let pending = Buffer.alloc(0);
  let chain = Promise.resolve();
  const handle = async (msg) => {
    const id = msg.id;
    try {
      if (!repl && (msg.op === "exec" || msg.op === "soft_reset")) {
        throw new Error("the USB serial is relayed raw (--usb-raw): no " + msg.op);
      } else if (msg.op === "exec") {
        const w0 = performance.now(), e0 = board.emuMs;
        const r = await repl.exec(msg.code, (msg.timeout || 60) * 1000);
        sendJSON({ id, ok: true, stdout: r.stdout, stderr: r.stderr,
          emu_ms: board.emuMs - e0, wall_ms: performance.now() - w0 });
      } else if (msg.op === "soft_reset") {
        const w0 = performance.now();
        await repl.softReset((msg.timeout || 30) * 1000);
        sendJSON({ id, ok: true, wall_ms: performance.now() - w0 });
      } else if (msg.op === "chip_eval") {
        if (!board.model.mp) throw new Error("the chip model is not a Python chip");
        board.model.mp.globals.set("_expr", msg.expr);
        board.model.mp.runPython("_value = repr(eval(_expr))");
        sendJSON({ id, ok: true, value: board.model.mp.globals.get("_value") });
      } else if (msg.op === "stats") {
        sendJSON(Object.assign({ id, ok: true, emu_ms: board.emuMs, wall_ms: performance.now() - board.wallStart,
          pace: board.pace, uf2_blocks: board.uf2Blocks }, board.stats));
      } else if (msg.op === "pace") {
        board.setPace(msg.on);
        sendJSON({ id, ok: true, pace: board.pace });
      } else if (msg.op === "serial") {
        board.serialWrite(Buffer.from(msg.data, "latin1"));
        sendJSON({ id, ok: true });
      } else if (msg.op === "quit") {
        sendJSON({ id, ok: true });
        board.stop();
        process.exit(0);
      } else {
        sendJSON({ id, ok: false, error: "unknown op " + msg.op });
      }
    } catch (e) {
      sendJSON({ id, ok: false, error: String(e.message || e) });
    }
  };
  process.stdin.on("data", (chunk) => {
    pending = Buffer.concat([pending, chunk]);
    while (pending.length >= 4) {
      const len = pending.readUInt32BE(0);
      if (pending.length < 4 + len) break;
      const type = String.fromCharCode(pending[4]);
      const body = pending.subarray(5, 4 + len);
      pending = pending.subarray(4 + len);
      if (type === "F") board.deliverFrame(new Uint8Array(body));
      else if (type === "S") board.serialWrite(Buffer.from(body));
      else if (type === "J") {
        let msg;
        try { msg = JSON.parse(body.toString("utf8")); } catch (e) { sendJSON({ event: "error", message: "bad JSON" }); continue; }
        // execs run one after another; stats/pace/quit answer at once
        if (msg.op === "exec" || msg.op === "soft_reset") chain = chain.then(() => handle(msg));
        else handle(msg);
      }
    }
  });
  process.stdin.on("end", () => { board.stop(); process.exit(0); });
}

// ---------------------------------------------------------------- CLI
function parseArgs(argv) {
  const o = { chip: "none", pins: {}, stdio: false, exec: null, pace: false, verbose: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = () => argv[++i];
    if (a === "--uf2") o.uf2 = next();
    else if (a === "--bootrom") o.bootrom = next();
    else if (a === "--fs") o.fs = next();
    else if (a === "--uid") o.uid = next();
    else if (a === "--chip") o.chip = next();
    else if (a === "--pins") {
      const v = next().split(",").map((x) => parseInt(x, 10));
      ["sck", "mosi", "miso", "cs", "rst", "int"].forEach((k, j) => { if (!Number.isNaN(v[j])) o.pins[k] = v[j]; });
    } else if (a === "--pace") o.pace = true;
    else if (a === "--bridge") o.bridge = next();
    else if (a === "--stdio") o.stdio = true;
    else if (a === "--serve") o.serve = true;
    else if (a === "--usb-raw") o.usbRaw = o.serve = true;
    else if (a === "--exec") o.exec = next();
    else if (a === "--timeout") o.timeout = parseFloat(next());
    else if (a === "--verbose") o.verbose = true;
    else { process.stderr.write("board.mjs: unknown argument " + a + "\n"); process.exit(2); }
  }
  return o;
}

export async function bootBoard(o) {
  const board = new Board(o);
  board.attachModel(await makeModel(o.chip, o.bridge));
  const repl = o.usbRaw ? null : new RawRepl(board);
  board.start();
  const w0 = performance.now();
  // --serve: leave main.py running (no Ctrl-C); the raw REPL is entered at the first exec
  const banner = o.serve ? (await board.waitConnected(o.bootTimeout || 60000), "") : await repl.enter(o.bootTimeout || 60000);
  return { board, repl, banner, bootWallMs: performance.now() - w0, bootEmuMs: board.emuMs };
}

async function main() {
  const o = parseArgs(process.argv.slice(2));
  const { board, repl, banner, bootWallMs, bootEmuMs } = await bootBoard(o);
  if (o.stdio) {
    sendJSON({ event: "ready", banner, boot_wall_ms: bootWallMs, boot_emu_ms: bootEmuMs, chip: o.chip });
    await serveStdio(board, repl);
    return;
  }
  process.stderr.write(`booted: ${bootEmuMs.toFixed(0)} ms emulated, ${bootWallMs.toFixed(0)} ms wall\n`);
  if (o.exec !== null) {
    const r = await repl.exec(o.exec, (o.timeout || 60) * 1000);
    process.stdout.write(r.stdout);
    if (r.stderr) process.stderr.write(r.stderr);
    board.stop();
    process.exit(r.stderr ? 1 : 0);
  }
  board.stop();
  process.exit(0);
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((e) => { process.stderr.write("board.mjs: " + (e.stack || e) + "\n"); process.exit(1); });
}
