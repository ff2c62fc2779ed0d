// Small helpers shared by the test suites: a temporary directory that removes itself, and a
// hex rendering of bytes for golden-byte assertions of the docs/ worked examples.
// Thread-safety: none needed (used by one test thread).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "persistence/log_writer.h"

namespace cowtree::testutil {

// mkdtemp("/tmp/<prefix>-XXXXXX"); the directory and everything in it is removed on
// destruction. Aborts if the directory cannot be created (a test cannot run without it).
class TempDir {
 public:
  explicit TempDir(std::string_view prefix = "cowtree-test");
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// Lower-case hex, two digits per byte, no separators.
std::string Hex(std::string_view bytes);

// LogWriterOptions with the store id of the docs' worked examples (ExampleStoreId()): log
// writers refuse a zero store id.
LogWriterOptions ExampleLogOptions();

// The whole content of a file ("" if it cannot be read).
std::string ReadFileOrEmpty(const std::string& path);

// XORs the byte at `offset` of the real file at `path` with `mask` in place (damage planted on
// real files; the fault-injecting Env has FlipBit). False if the file cannot be opened.
bool XorByteInFile(const std::string& path, uint64_t offset, uint8_t mask);

}  // namespace cowtree::testutil
