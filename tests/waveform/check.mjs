// Loads a waveform written by studio-media — the JSON and the binary .dat — with the real
// `waveform-data` package, and checks both against the values the Rust test expects.
//   node check.mjs WAVEFORM.json WAVEFORM.dat EXPECTED.json
// EXPECTED.json: {"sample_rate", "samples_per_pixel", "bits", "length", "min": [..], "max": [..]}
// Prints a JSON summary; exits non-zero on any mismatch.
import { readFileSync } from "node:fs";
import assert from "node:assert/strict";
import WaveformData from "waveform-data";

const [jsonPath, datPath, expectedPath] = process.argv.slice(2);
if (!expectedPath) {
  console.error("usage: node check.mjs WAVEFORM.json WAVEFORM.dat EXPECTED.json");
  process.exit(2);
}

const expected = JSON.parse(readFileSync(expectedPath, "utf8"));
const fromJson = WaveformData.create(JSON.parse(readFileSync(jsonPath, "utf8")));
const datBytes = readFileSync(datPath);
const fromDat = WaveformData.create(
  datBytes.buffer.slice(datBytes.byteOffset, datBytes.byteOffset + datBytes.byteLength),
);

const summary = {};
for (const [name, wf] of [["json", fromJson], ["dat", fromDat]]) {
  const ch = wf.channel(0);
  const got = {
    channels: wf.channels,
    sample_rate: wf.sample_rate,
    samples_per_pixel: wf.scale,
    bits: wf.bits,
    length: wf.length,
    min: ch.min_array(),
    max: ch.max_array(),
  };
  assert.equal(got.channels, 1, `${name}: channels`);
  assert.equal(got.sample_rate, expected.sample_rate, `${name}: sample_rate`);
  assert.equal(got.samples_per_pixel, expected.samples_per_pixel, `${name}: samples_per_pixel`);
  assert.equal(got.bits, expected.bits, `${name}: bits`);
  assert.equal(got.length, expected.length, `${name}: length`);
  assert.deepEqual(got.min, expected.min, `${name}: min values`);
  assert.deepEqual(got.max, expected.max, `${name}: max values`);
  // The client zooms out from this base resolution: that must work too.
  if (wf.length >= 2) {
    const coarser = wf.resample({ scale: wf.scale * 2 });
    assert.equal(coarser.scale, wf.scale * 2, `${name}: resampled scale`);
    assert.ok(coarser.length >= 1 && coarser.length <= Math.ceil(wf.length / 2) + 1, `${name}: resampled length`);
  }
  summary[name] = {
    length: got.length,
    sample_rate: got.sample_rate,
    bits: got.bits,
    min: Math.min(...got.min),
    max: Math.max(...got.max),
  };
}
console.log(JSON.stringify(summary));
