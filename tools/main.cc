// Entry point of the `cowtree` command; subcommands live in tools/*.cc.
#include "cowtree/options.h"
#include "tools/cli.h"

int main(int argc, char** argv) {
  // The whole process is ours: keep glibc's mmap threshold from drifting up, so that the
  // memory budget (--cache-mib) holds with less heap left resident (include/cowtree/options.h).
  (void)cowtree::PinMallocMmapThreshold();
  return cowtree::tools::RunCli(argc, argv);
}
