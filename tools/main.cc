// Entry point of the `cowtree` command; subcommands live in tools/*.cc.
#include "tools/cli.h"

int main(int argc, char** argv) { return cowtree::tools::RunCli(argc, argv); }
