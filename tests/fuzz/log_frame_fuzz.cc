// Fuzz target: one delta-log frame (persistence/log_format.h DecodeFrame, docs/log_format.md),
// the frame scanners used to classify a bad region (persistence/log_reader.h
// FindNextValidFrame, ScanAfterBadRegion) and the log file header. Written against the public
// constants and encoders, so it follows format changes with at most signature edits.
//
// Input: flags byte, then the bytes starting at a frame (for the scanners: a whole log file).
//   bit 0: store the CRC32C of [0, header + payload) after the payload (the trailer rule);
//   bit 1: if the header's type is valid, replace the frame by EncodeFrame of the fields the
//          header names (a valid frame whatever the format version);
//   bit 2: also check the log file header verifier on the same bytes (bit 3: recompute the
//          header CRC first; bit 4: expect the file number the bytes carry, else 1);
//   bits 5-7: the frame's offset in its file passed to DecodeFrame: 0, 32, 64, 4096, 2^20,
//          UINT64_MAX, the frame's synced_offset_bytes, or that minus 1.
// Properties
// - DecodeFrame either fails with Corruption and reports a FrameDecodeError other than kNone,
//   or returns a frame that lies inside the input (payload view included), has a valid type,
//   synced_offset_bytes <= the frame offset and frame_size_bytes == FrameSizeBytes(payload
//   size), and EncodeFrame of its fields reproduces the input's first frame_size_bytes bytes.
// - FindNextValidFrame(bytes, from) is the first offset q >= from at which
//   DecodeFrame(bytes[q..], q) succeeds (its cheap pre-checks never skip a frame that
//   verifies); ScanAfterBadRegion(bytes, x) agrees with a brute-force model (first frame after
//   x, then frame by frame: count, first offset, first frame with synced_offset_bytes > x).
//   Checked for inputs <= 256 bytes: at every offset up to 64 bytes, at 12 spread offsets above.
// - VerifyLogFileHeader(expecting ExampleStoreId()) accepts exactly the bytes that start with
//   EncodeLogFileHeader(number, ExampleStoreId()).
#include <algorithm>
#include <vector>

#include "persistence/log_format.h"
#include "persistence/log_reader.h"
#include "tests/fuzz/fuzz_targets.h"
#include "tests/fuzz/fuzz_util.h"

namespace cowtree::fuzz {
namespace {

constexpr size_t kNpos = std::string_view::npos;

// The frame's length field, if the header is there and the frame fits in `bytes`.
bool FrameExtent(const std::string& bytes, size_t* payload_length) {
  if (bytes.size() < kFrameHeaderSize) return false;
  const uint32_t length = DecodeFixed32(bytes.data() + kFrameLengthOffset);
  if (length > kLogRecordPayloadMax || FrameSizeBytes(length) > bytes.size()) return false;
  *payload_length = length;
  return true;
}

void CheckFrame(std::string_view bytes, uint64_t frame_offset) {
  FrameDecodeError error = static_cast<FrameDecodeError>(0xff);
  Result<FrameView> frame = DecodeFrame(bytes, frame_offset, &error);
  if (!frame.ok()) {
    FUZZ_CHECK_CORRUPTION(frame.status());
    FUZZ_CHECK(error != FrameDecodeError::kNone && error != static_cast<FrameDecodeError>(0xff),
               "a failed decode must name its reason");
    if (error == FrameDecodeError::kShortHeader) FUZZ_CHECK(bytes.size() < kFrameHeaderSize);
    return;
  }
  FUZZ_CHECK(error == FrameDecodeError::kNone);
  FUZZ_CHECK(IsValidLogRecordType(static_cast<uint8_t>(frame->type)));
  FUZZ_CHECK(frame->synced_offset_bytes <= frame_offset);
  FUZZ_CHECK(frame->payload.size() <= kLogRecordPayloadMax);
  FUZZ_CHECK(frame->frame_size_bytes == FrameSizeBytes(frame->payload.size()));
  FUZZ_CHECK(frame->frame_size_bytes <= bytes.size(), "frame runs past the input");
  FUZZ_CHECK(
      frame->payload.data() >= bytes.data() &&
          frame->payload.data() + frame->payload.size() <= bytes.data() + frame->frame_size_bytes,
      "payload view outside the frame");
  std::string encoded;
  EncodeFrame(frame->type, frame->epoch, frame->synced_offset_bytes, frame->payload, &encoded);
  FUZZ_CHECK(encoded == bytes.substr(0, frame->frame_size_bytes),
             "re-encoded frame differs: " + Hex(encoded) + " vs " +
                 Hex(bytes.substr(0, frame->frame_size_bytes)));
}

// DecodeFrame at file offset q, skipped (as DecodeFrame would fail with kShortHeader,
// kLengthOverLimit or kShortFrame) when the length field says the frame cannot fit: most
// offsets of random bytes, and a failing decode builds an error message.
bool DecodesAt(std::string_view file, size_t q) {
  if (file.size() - q < kFrameHeaderSize) return false;
  const uint32_t length = DecodeFixed32(file.data() + q + kFrameLengthOffset);
  if (length > kLogRecordPayloadMax || kFrameOverheadBytes + uint64_t{length} > file.size() - q) {
    return false;
  }
  return DecodeFrame(file.substr(q), q).ok();
}

void CheckScanners(std::string_view file) {
  // first_from[p]: the first offset >= p where a frame decodes (brute force, memoized).
  std::vector<size_t> first_from(file.size() + 2, kNpos);
  for (size_t from = file.size() + 1; from-- > 0;) {
    const bool here = from < file.size() && DecodesAt(file, from);
    first_from[from] = here ? from : first_from[from + 1];
  }
  // Every position of a short input; 12 spread over a longer one (the scanners are linear per
  // call, so all positions of a 1 KiB input would cost milliseconds).
  std::vector<size_t> positions;
  const size_t step = file.size() <= 64 ? 1 : file.size() / 12;
  for (size_t p = 0; p <= file.size(); p += step) positions.push_back(p);
  if (first_from[0] != kNpos) {
    positions.push_back(first_from[0]);
    positions.push_back(first_from[0] + 1);
  }
  for (const size_t from : positions) {
    if (from > file.size()) continue;
    FUZZ_CHECK(FindNextValidFrame(file, from) == first_from[from],
               "FindNextValidFrame(from " + std::to_string(from) +
                   ") = " + std::to_string(FindNextValidFrame(file, from)) +
                   ", first decodable offset " + std::to_string(first_from[from]));
  }
  for (const size_t bad : positions) {
    if (bad >= file.size()) continue;
    BadRegionScan model;
    for (size_t q = first_from[bad + 1]; q != kNpos;) {
      Result<FrameView> f = DecodeFrame(file.substr(q), q);
      if (model.valid_frames == 0) model.first_valid_offset = q;
      ++model.valid_frames;
      if (f->synced_offset_bytes > bad && model.proof_offset == kNpos) {
        model.proof_offset = q;
        model.proof_synced_offset_bytes = f->synced_offset_bytes;
      }
      q = first_from[std::min(file.size(), q + f->frame_size_bytes)];
    }
    const BadRegionScan scan = ScanAfterBadRegion(file, bad);
    FUZZ_CHECK(scan.valid_frames == model.valid_frames &&
                   scan.first_valid_offset == model.first_valid_offset &&
                   scan.proof_offset == model.proof_offset &&
                   scan.proof_synced_offset_bytes == model.proof_synced_offset_bytes,
               "ScanAfterBadRegion(" + std::to_string(bad) + ") disagrees with the model");
  }
}

}  // namespace

int FuzzLogFrame(const uint8_t* data, size_t size) {
  FuzzInput in;
  if (!SplitInput(data, size, &in)) return 0;
  std::string& bytes = in.bytes;
  size_t length = 0;
  if (in.flag(0) && FrameExtent(bytes, &length)) {
    const size_t crc_offset = kFrameHeaderSize + length;
    FixCrc(&bytes, crc_offset, 0, crc_offset);
  }
  if (in.flag(1) && FrameExtent(bytes, &length)) {
    const auto type = static_cast<uint8_t>(bytes[kFrameTypeOffset]);
    if (IsValidLogRecordType(type)) {
      std::string frame;
      EncodeFrame(static_cast<LogRecordType>(type), DecodeFixed64(bytes.data() + kFrameEpochOffset),
                  DecodeFixed64(bytes.data() + kFrameSyncedOffsetOffset),
                  std::string_view(bytes).substr(kFrameHeaderSize, length), &frame);
      bytes.replace(0, FrameSizeBytes(length), frame);
    }
  }

  const uint64_t synced =
      bytes.size() >= kFrameHeaderSize ? DecodeFixed64(bytes.data() + kFrameSyncedOffsetOffset) : 0;
  const uint64_t offsets[8] = {0,      kLogFileHeaderSize, 64, 4096, uint64_t{1} << 20, UINT64_MAX,
                               synced, synced - 1};
  const ExactBytes exact(bytes);
  CheckFrame(exact.view(), offsets[in.flags >> 5]);

  if (bytes.size() <= 256) CheckScanners(exact.view());

  if (in.flag(2) && bytes.size() >= kLogHeaderFileNumberOffset + 8) {
    std::string file = bytes;
    if (in.flag(3)) FixCrc(&file, kLogHeaderCrcOffset, 0, kLogHeaderCrcOffset);
    // Ask for the number the bytes carry (most of the time) so that the later checks run.
    const uint64_t stored = DecodeFixed64(file.data() + kLogHeaderFileNumberOffset);
    const uint64_t number = in.flag(4) ? std::max<uint64_t>(1, stored) : 1;
    const Status st = VerifyLogFileHeader(file, number, ExampleStoreId(), "log-fuzz.log");
    const std::string header = EncodeLogFileHeader(number, ExampleStoreId());
    FUZZ_CHECK(st.ok() == (file.compare(0, header.size(), header) == 0),
               "VerifyLogFileHeader " + st.ToString() + " on " + Hex(file, 40));
    if (!st.ok()) FUZZ_CHECK_CORRUPTION(st);
  }
  return 0;
}

}  // namespace cowtree::fuzz
