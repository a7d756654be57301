// The npm registry mirror available to this project serves only the
// linux-x64 builds of platform-specific optional packages, so the lock file
// cannot list the other platforms' builds, and `npm ci` (npm 11) then reports
// them as "Missing". This script drops optionalDependencies entries that have
// no package in the lock, which keeps `npm ci` consistent. Run it after any
// `npm install` that changes the lock file.
import { readFileSync, writeFileSync } from "node:fs";

const lockPath = new URL("../package-lock.json", import.meta.url);
const lock = JSON.parse(readFileSync(lockPath, "utf8"));
const present = new Set(Object.keys(lock.packages).map((p) => p.replace(/^.*node_modules\//, "")));
let dropped = 0;
for (const entry of Object.values(lock.packages)) {
  const opt = entry.optionalDependencies;
  if (!opt) continue;
  for (const name of Object.keys(opt)) {
    if (!present.has(name)) {
      delete opt[name];
      dropped++;
    }
  }
  if (Object.keys(opt).length === 0) delete entry.optionalDependencies;
}
writeFileSync(lockPath, `${JSON.stringify(lock, null, 2)}\n`);
console.log(`prune-lock-platforms: dropped ${dropped} unavailable optional entries`);
