// InputVerifier: a second decompression of a zstd input file, ahead of the first commit.
#include "tools/input_verifier.h"

#include <utility>
#include <vector>

namespace cowtree::tools {

std::unique_ptr<InputVerifier> InputVerifier::Start(const InputStream& stream) {
  if (!stream.compressed() || stream.partial_reads()) return nullptr;
  Result<std::unique_ptr<InputStream>> copy = stream.OpenSameFile();
  if (!copy.ok()) return nullptr;  // the reader still checks every frame as it reads it
  std::unique_ptr<InputVerifier> v(new InputVerifier(std::move(copy).value()));
  v->thread_ = std::thread([p = v.get()] { p->Run(); });
  return v;
}

InputVerifier::InputVerifier(std::unique_ptr<InputStream> copy) : copy_(std::move(copy)) {}

InputVerifier::~InputVerifier() {
  stop_.store(true, std::memory_order_relaxed);
  if (thread_.joinable()) thread_.join();
}

Status InputVerifier::Wait() {
  if (thread_.joinable()) thread_.join();
  return result_;
}

void InputVerifier::Run() {
  std::vector<char> block(InputStream::kDefaultBlockBytes);
  while (!stop_.load(std::memory_order_relaxed)) {
    size_t got = 0;
    result_ = copy_->Read(block.data(), block.size(), &got);
    if (!result_.ok() || got == 0) return;
  }
}

}  // namespace cowtree::tools
