// The `cowtree` command (CLI11). Subcommands: ingest, query, checkpoint, checkpoints, backup,
// stat, demo, bench, fsck, dump, compact.
// Exit codes: 0 success; 1 an error (bad input, I/O, corruption: one line on stderr naming the
// file, line/offset and what was expected; for ingest also what was committed); 2 usage error
// (bad flag, P outside [0,1] or repeated); ingest only: 3 every row committed and durable but
// the closing checkpoint/close failed, 4 stdout could not be written (tools/ingest.h). SIGPIPE
// is ignored: a closed stdout is a write error (exit 1 for the other commands, 8 for fsck).
#pragma once

namespace cowtree::tools {

int RunCli(int argc, char** argv);

}  // namespace cowtree::tools
