// Fuzz target: the CSV reader of `cowtree ingest` (tools/csv_reader.h CsvReader over
// tools/input_stream.h InputStream, including its zstd path) and the number parsers.
//
// CsvReader::Open takes a path, so the input is written to a memfd (an in-memory file, one per
// process, rewritten per input) and opened as /proc/self/fd/N: the real InputStream code reads
// it with read(2), no copy of the reader is needed. (A temporary file is the fallback where
// memfd_create is unavailable.)
//
// Input: flags byte, then the file bytes (plain CSV, or zstd-compressed if they start with a
//   zstd frame magic number).
//   bits 0-2: the small block size of the first reader: 1, 2, 3, 4, 5, 8, 16 or 64 bytes (at
//             least size / 32, to keep an execution fast).
// Properties
// - Differential: a reader with that small block size (rows straddle many refills and resume
//   mid-field) and a reader with 64 KiB blocks produce the same header, the same rows with
//   the same line numbers, the same ragged-row errors and the same final outcome (clean end or
//   the same sticky error, with the same message).
// - Model: for plain input (or zstd input the harness can decompress completely, up to
//   64 KiB), both agree with an independent, straightforward implementation of the dialect in
//   the header's contract (BOM, quoting, "" escapes, CRLF / LF / lone CR, blank lines, ragged
//   rows, error messages with line and field numbers).
// - Undecodable zstd input ends in an error, never in a clean end of input.
// - Errors are sticky (Next() returns the same error again) except ragged rows; after the end
//   Next() keeps returning false.
// - ParseInt64Field agrees with a model (optional sign, decimal digits, range of int64; "+"
//   allowed), and its value prints and parses back; ParseDoubleField returns only finite values
//   that round-trip through std::to_chars; FieldInt64/FieldDouble agree with them.
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>
#include <zstd.h>

#include <charconv>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "tools/csv_reader.h"
#include "tests/fuzz/fuzz_targets.h"
#include "tests/fuzz/fuzz_util.h"

namespace cowtree::fuzz {
namespace {

using tools::CsvReader;
using tools::CsvReaderOptions;

struct CsvEvent {
  enum Kind : uint8_t { kRow, kRagged, kEnd, kError };
  Kind kind = kEnd;
  std::vector<std::string> fields;  // kRow
  uint64_t line = 0;                // kRow
  std::string message;              // kRagged, kError: the Status as a string
  friend bool operator==(const CsvEvent&, const CsvEvent&) = default;
};

struct CsvOutcome {
  std::string open_error;  // empty if Open succeeded
  std::vector<std::string> header;
  std::vector<CsvEvent> events;
  friend bool operator==(const CsvOutcome&, const CsvOutcome&) = default;
  bool ends_in_error() const {
    return !open_error.empty() || (!events.empty() && events.back().kind == CsvEvent::kError);
  }
};

std::string Describe(const CsvOutcome& o) {
  if (!o.open_error.empty()) return "open error: " + o.open_error;
  std::string s = "header[" + std::to_string(o.header.size()) + "]";
  for (const std::string& h : o.header) s += " '" + h + "'";
  for (const CsvEvent& e : o.events) {
    switch (e.kind) {
      case CsvEvent::kRow:
        s += "\n  row line " + std::to_string(e.line) + ":";
        for (const std::string& f : e.fields) s += " '" + f + "'";
        break;
      case CsvEvent::kRagged:
        s += "\n  ragged: " + e.message;
        break;
      case CsvEvent::kEnd:
        s += "\n  end";
        break;
      case CsvEvent::kError:
        s += "\n  error: " + e.message;
        break;
    }
  }
  return s;
}

// ---- The input file ----

class InputFile {
 public:
  InputFile() {
    fd_ = memfd_create("cowtree-fuzz-csv", MFD_CLOEXEC);
    if (fd_ >= 0) {
      path_ = "/proc/self/fd/" + std::to_string(fd_);
    } else {
      const char* tmp = std::getenv("TMPDIR");
      std::string tmpl = std::string(tmp != nullptr ? tmp : "/tmp") + "/cowtree_fuzz_csv_XXXXXX";
      fd_ = mkstemp(tmpl.data());
      FUZZ_CHECK(fd_ >= 0, "cannot create a temporary file");
      path_ = tmpl;
    }
  }
  ~InputFile() {
    close(fd_);
    if (path_.rfind("/proc/", 0) != 0) unlink(path_.c_str());
  }
  const std::string& Write(std::string_view bytes) {
    FUZZ_CHECK(ftruncate(fd_, 0) == 0);
    size_t done = 0;
    while (done < bytes.size()) {
      const ssize_t n = pwrite(fd_, bytes.data() + done, bytes.size() - done,
                               static_cast<off_t>(done));
      FUZZ_CHECK(n > 0, "pwrite to the input file failed");
      done += static_cast<size_t>(n);
    }
    return path_;
  }

 private:
  int fd_ = -1;
  std::string path_;
};

// ---- Number parsers ----

enum class IntModel : uint8_t { kOk, kRange, kSyntax };

// The documented behaviour: optional '+' or '-', then decimal digits, in the int64 range.
// "Out of range" wins when the leading digits overflow, even if other bytes follow them
// (tools_csv_reader_test pins that message for 60 digits followed by \x01).
IntModel ModelInt64(std::string_view t, int64_t* value) {
  size_t i = 0;
  bool negative = false;
  if (i < t.size() && (t[i] == '+' || t[i] == '-')) {
    negative = t[i] == '-';
    ++i;
  }
  const size_t digits_begin = i;
  unsigned __int128 v = 0;
  for (; i < t.size() && t[i] >= '0' && t[i] <= '9'; ++i) {
    if (v <= (static_cast<unsigned __int128>(1) << 64)) v = v * 10 + static_cast<unsigned>(t[i] - '0');
  }
  if (i == digits_begin) return IntModel::kSyntax;
  const unsigned __int128 limit = (static_cast<unsigned __int128>(1) << 63) - (negative ? 0 : 1);
  if (v > limit) return IntModel::kRange;
  if (i != t.size()) return IntModel::kSyntax;
  *value = negative ? static_cast<int64_t>(-static_cast<__int128>(v)) : static_cast<int64_t>(v);
  return IntModel::kOk;
}

void CheckNumbers(const CsvReader& reader) {
  for (size_t c = 0; c < reader.field_count(); ++c) {
    const std::string_view f = reader.field(c);
    int64_t v = 0, model = 0;
    const Status st = tools::ParseInt64Field(f, &v);
    const IntModel expected = ModelInt64(f, &model);
    FUZZ_CHECK(st.ok() == (expected == IntModel::kOk),
               "ParseInt64Field('" + std::string(f) + "'): " + st.ToString());
    if (st.ok()) {
      FUZZ_CHECK(v == model, "ParseInt64Field('" + std::string(f) + "') = " + std::to_string(v));
      int64_t again = 0;
      FUZZ_CHECK(tools::ParseInt64Field(std::to_string(v), &again).ok() && again == v);
    } else {
      FUZZ_CHECK(st.IsInvalidArgument());
      FUZZ_CHECK((st.message().rfind("integer out of range, found ", 0) == 0) ==
                     (expected == IntModel::kRange),
                 st.ToString());
    }
    int64_t via_reader = 0;
    FUZZ_CHECK(reader.FieldInt64(c, &via_reader).ok() == st.ok());

    double d = 0;
    const Status sd = tools::ParseDoubleField(f, &d);
    if (sd.ok()) {
      FUZZ_CHECK(std::isfinite(d));
      char buf[64];
      const auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), d);
      FUZZ_CHECK(ec == std::errc());
      double again = 0;
      FUZZ_CHECK(tools::ParseDoubleField(std::string_view(buf, end - buf), &again).ok());
      FUZZ_CHECK(std::memcmp(&again, &d, sizeof(d)) == 0, "double does not round-trip");
    } else {
      FUZZ_CHECK(sd.IsInvalidArgument());
    }
    double via_reader_d = 0;
    FUZZ_CHECK(reader.FieldDouble(c, &via_reader_d).ok() == sd.ok());
  }
}

// ---- The reader ----

bool IsRagged(const Status& st) {
  return st.IsInvalidArgument() && st.message().find(" fields, found ") != std::string::npos;
}

CsvOutcome RunReader(const std::string& path, size_t block_bytes, size_t max_events,
                     bool check_numbers) {
  CsvOutcome out;
  CsvReaderOptions options;
  options.block_bytes = block_bytes;
  Result<std::unique_ptr<CsvReader>> opened = CsvReader::Open(path, options);
  if (!opened.ok()) {
    out.open_error = opened.status().ToString();
    return out;
  }
  CsvReader& reader = **opened;
  out.header = reader.header();
  FUZZ_CHECK(!out.header.empty(), "a header row has at least one field");
  for (;;) {
    FUZZ_CHECK(out.events.size() <= max_events, "Next() does not reach the end of the input");
    Result<bool> next = reader.Next();
    if (!next.ok()) {
      CsvEvent e;
      e.message = next.status().ToString();
      if (IsRagged(next.status())) {
        e.kind = CsvEvent::kRagged;
        out.events.push_back(std::move(e));
        continue;
      }
      e.kind = CsvEvent::kError;
      Result<bool> again = reader.Next();
      FUZZ_CHECK(!again.ok() && again.status().ToString() == e.message,
                 "error is not sticky: " + e.message);
      out.events.push_back(std::move(e));
      return out;
    }
    if (!*next) {
      out.events.push_back(CsvEvent{});
      Result<bool> again = reader.Next();
      FUZZ_CHECK(again.ok() && !*again, "Next() after the end");
      return out;
    }
    FUZZ_CHECK(reader.field_count() == out.header.size());
    CsvEvent e;
    e.kind = CsvEvent::kRow;
    e.line = reader.line_number();
    for (size_t i = 0; i < reader.field_count(); ++i) e.fields.emplace_back(reader.field(i));
    if (check_numbers) CheckNumbers(reader);
    out.events.push_back(std::move(e));
  }
}

// ---- The model: the dialect of csv_reader.h, written for clarity, not speed ----

std::string QuotedChar(char c) {
  const auto u = static_cast<unsigned char>(c);
  if (u >= 0x20 && u < 0x7f) return std::string("'") + c + "'";
  static constexpr char kHex[] = "0123456789abcdef";
  return std::string("'\\x") + kHex[u >> 4] + kHex[u & 15] + "'";
}

class ModelCsv {
 public:
  ModelCsv(std::string_view s, std::string name) : s_(s), name_(std::move(name)) {
    if (s_.size() >= 3 && s_.substr(0, 3) == "\xEF\xBB\xBF") i_ = 3;
  }

  CsvOutcome Run() {
    CsvOutcome out;
    std::vector<std::string> fields;
    std::string error;
    uint64_t line = 0;
    switch (ReadRow(&fields, &line, &error)) {
      case kEnd:
        out.open_error = "InvalidArgument: " + name_ + ": empty input, expected a header row";
        return out;
      case kError:
        out.open_error = error;
        return out;
      case kRow:
        out.header = fields;
        break;
    }
    for (;;) {
      CsvEvent e;
      switch (ReadRow(&fields, &line, &error)) {
        case kEnd:
          out.events.push_back(e);
          return out;
        case kError:
          e.kind = CsvEvent::kError;
          e.message = error;
          out.events.push_back(e);
          return out;
        case kRow:
          if (fields.size() != out.header.size()) {
            e.kind = CsvEvent::kRagged;
            e.message = "InvalidArgument: " + name_ + ":" + std::to_string(line) + ": expected " +
                        std::to_string(out.header.size()) + " fields, found " +
                        std::to_string(fields.size());
          } else {
            e.kind = CsvEvent::kRow;
            e.fields = fields;
            e.line = line;
          }
          out.events.push_back(e);
          break;
      }
    }
  }

 private:
  enum RowResult { kRow, kEnd, kError };

  bool AtLineEnd(size_t i) const {  // '\n', or '\r' followed by '\n' or the end of input
    return s_[i] == '\n' || (s_[i] == '\r' && (i + 1 == s_.size() || s_[i + 1] == '\n'));
  }
  size_t LineEndLength(size_t i) const {
    return s_[i] == '\r' && i + 1 < s_.size() ? 2 : 1;
  }

  RowResult ReadRow(std::vector<std::string>* fields, uint64_t* row_line, std::string* error) {
    const size_t n = s_.size();
    while (i_ < n && AtLineEnd(i_)) {  // blank lines
      i_ += LineEndLength(i_);
      ++line_;
    }
    if (i_ == n) return kEnd;
    fields->clear();
    *row_line = line_;
    uint64_t quoted_newlines = 0;
    for (;;) {  // one field per iteration
      if (i_ < n && s_[i_] == '"') {
        ++i_;
        std::string value;
        for (;;) {
          const size_t q = s_.find('"', i_);
          if (q == std::string_view::npos) {
            *error = "InvalidArgument: " + name_ + ":" + std::to_string(line_) +
                     ": unterminated quoted field (field " + std::to_string(fields->size() + 1) +
                     ")";
            return kError;
          }
          value.append(s_.substr(i_, q - i_));
          for (size_t k = i_; k < q; ++k) quoted_newlines += s_[k] == '\n';
          if (q + 1 < n && s_[q + 1] == '"') {
            value.push_back('"');
            i_ = q + 2;
            continue;
          }
          i_ = q + 1;
          break;
        }
        fields->push_back(std::move(value));
        if (i_ == n) break;
        if (s_[i_] == ',') {
          ++i_;
          continue;
        }
        if (AtLineEnd(i_)) {
          i_ += LineEndLength(i_);
          break;
        }
        *error = "InvalidArgument: " + name_ + ":" + std::to_string(line_) +
                 ": unexpected character " + QuotedChar(s_[i_]) + " after closing quote (field " +
                 std::to_string(fields->size()) + ")";
        return kError;
      }
      // Unquoted: up to ',', a line end, or the end of input; a lone CR is data.
      size_t j = i_;
      while (j < n && s_[j] != ',' && !AtLineEnd(j)) ++j;
      fields->emplace_back(s_.substr(i_, j - i_));
      if (j == n) {
        i_ = n;
        break;
      }
      if (s_[j] == ',') {
        i_ = j + 1;
        continue;
      }
      i_ = j + LineEndLength(j);
      break;
    }
    line_ += 1 + quoted_newlines;
    return kRow;
  }

  std::string_view s_;
  std::string name_;
  size_t i_ = 0;
  uint64_t line_ = 1;
};

// ---- zstd, decoded independently of InputStream ----

enum class Zstd : uint8_t { kNotZstd, kOk, kCorrupt, kTooBig };

Zstd Decompress(std::string_view in, size_t cap, std::string* out) {
  if (in.size() < 4) return Zstd::kNotZstd;
  const uint32_t magic = DecodeFixed32(in.data());
  if (magic != ZSTD_MAGICNUMBER &&
      (magic & ZSTD_MAGIC_SKIPPABLE_MASK) != ZSTD_MAGIC_SKIPPABLE_START) {
    return Zstd::kNotZstd;
  }
  ZSTD_DCtx* dctx = ZSTD_createDCtx();
  FUZZ_CHECK(dctx != nullptr);
  out->assign(cap, '\0');
  ZSTD_outBuffer output{out->data(), cap, 0};
  ZSTD_inBuffer input{in.data(), in.size(), 0};
  Zstd result = Zstd::kOk;
  size_t ret = 0;
  for (;;) {
    const size_t in_before = input.pos, out_before = output.pos;
    ret = ZSTD_decompressStream(dctx, &output, &input);
    if (ZSTD_isError(ret)) {
      result = Zstd::kCorrupt;
      break;
    }
    if (output.pos == output.size) {
      result = Zstd::kTooBig;
      break;
    }
    if (input.pos == input.size &&
        (ret == 0 || (input.pos == in_before && output.pos == out_before))) {
      result = ret == 0 ? Zstd::kOk : Zstd::kCorrupt;  // else: truncated inside a frame
      break;
    }
  }
  ZSTD_freeDCtx(dctx);
  out->resize(output.pos);
  return result;
}

constexpr size_t kSmallBlocks[8] = {1, 2, 3, 4, 5, 8, 16, 64};
constexpr size_t kLargeBlock = 64 * 1024;
constexpr size_t kMaxDecompressedBytes = 64 << 10;  // larger outputs are skipped

}  // namespace

int FuzzCsv(const uint8_t* data, size_t size) {
  FuzzInput in;
  if (!SplitInput(data, size, &in)) return 0;
  const std::string& bytes = in.bytes;

  std::string plain;
  const Zstd zstd = Decompress(bytes, kMaxDecompressedBytes, &plain);
  if (zstd == Zstd::kTooBig) return 0;  // a decompression bomb: slow, and not about parsing
  if (zstd == Zstd::kNotZstd) plain = bytes;

  static InputFile* file = new InputFile();  // one per process, never destroyed
  const std::string& path = file->Write(bytes);

  // Rows never outnumber the decompressed bytes (+ the end). For undecodable zstd input `plain`
  // may miss the output of the decompression call that failed: at most one block more.
  const size_t max_events = plain.size() + 4 + (zstd == Zstd::kCorrupt ? ZSTD_BLOCKSIZE_MAX : 0);
  // Refill rebases the views of the fields of a row that straddles it, so a row of many fields
  // over many tiny blocks costs fields x refills; size / 32 bounds that for long inputs.
  const size_t small = std::max(kSmallBlocks[in.flags & 7], plain.size() / 32 + 1);
  const CsvOutcome a = RunReader(path, small, max_events, /*check_numbers=*/false);
  const CsvOutcome b = RunReader(path, kLargeBlock, max_events, /*check_numbers=*/true);

  if (zstd == Zstd::kCorrupt) {
    FUZZ_CHECK(a.ends_in_error() && b.ends_in_error(),
               "undecodable zstd input read to a clean end:\n" + Describe(a) + "\n" + Describe(b));
    return 0;
  }
  FUZZ_CHECK(a == b, "block size " + std::to_string(small) + " vs " + std::to_string(kLargeBlock) +
                         ":\n" + Describe(a) + "\n---\n" + Describe(b));
  const CsvOutcome model = ModelCsv(plain, path).Run();
  FUZZ_CHECK(b == model, "reader vs model:\n" + Describe(b) + "\n---\n" + Describe(model));
  return 0;
}

}  // namespace cowtree::fuzz
