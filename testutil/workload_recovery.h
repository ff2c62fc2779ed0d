// The StoreFns of testutil/workload.h bound to recovery/: recovery::Open and the consistency
// check. Header-only on purpose: testutil is a static library that the test binaries link
// BEFORE the recovery library, so the calls into recovery/ must live in the test's own object.
// This is the one place the sweeps call the checker (recovery::Fsck, errors() == 0 required after
// every recovery that VerifyRecovery checks).
#pragma once

#include <memory>
#include <string>

#include "recovery/fsck.h"
#include "recovery/open.h"
#include "testutil/workload.h"

namespace cowtree::testutil {

// "" if recovery::Fsck finds no error in the closed store at dir (warnings and infos, e.g. an
// obsolete file a crash left behind, are allowed); else the error findings, one per line.
inline std::string CheckStoreConsistent(Env* env, const std::string& dir) {
  recovery::FsckOptions o;
  o.env = env;
  Result<recovery::FsckReport> r = recovery::Fsck(dir, o);
  if (!r.ok()) return "fsck could not run: " + r.status().ToString();
  if (r->errors() == 0) return "";
  std::string out = std::to_string(r->errors()) + " fsck error(s):";
  for (const recovery::FsckFinding& f : r->findings) {
    if (f.severity == recovery::FsckSeverity::kError && !f.repaired) {
      out += "\n    " + recovery::FormatFinding(f);
    }
  }
  return out;
}

inline StoreFns RecoveryStoreFns() {
  StoreFns fns;
  fns.open = [](const std::string& dir,
                const RuntimeOptions& options) -> Result<std::unique_ptr<Runtime>> {
    return recovery::Open(dir, options);
  };
  fns.fsck = CheckStoreConsistent;
  return fns;
}

}  // namespace cowtree::testutil
