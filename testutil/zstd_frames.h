// Test inputs in zstd: a frame with a content checksum, as the `zstd` command writes it
// (ZSTD_compress writes none). Header-only: only tests that link libzstd (the tools layer)
// include it. Returns "" if libzstd fails (the caller's assertions then fail).
#pragma once

#include <zstd.h>

#include <string>

namespace cowtree::testutil {

inline std::string ZstdWithChecksum(const std::string& plain) {
  ZSTD_CCtx* cctx = ZSTD_createCCtx();
  if (cctx == nullptr || ZSTD_isError(ZSTD_CCtx_setParameter(cctx, ZSTD_c_checksumFlag, 1))) {
    ZSTD_freeCCtx(cctx);
    return std::string();
  }
  std::string out(ZSTD_compressBound(plain.size()), '\0');
  const size_t n = ZSTD_compress2(cctx, out.data(), out.size(), plain.data(), plain.size());
  ZSTD_freeCCtx(cctx);
  if (ZSTD_isError(n)) return std::string();
  out.resize(n);
  return out;
}

}  // namespace cowtree::testutil
