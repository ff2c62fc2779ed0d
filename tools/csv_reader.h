// CsvReader: streaming RFC 4180 CSV with a header row, for `cowtree ingest`.
//
// Contract
// - What: Open(path) reads the input through InputStream (plain file, zstd file, or "-" for
//   stdin) and parses the first row as the header. Next() then yields one data row at a time.
// - Dialect: ',' separates fields; a row ends at LF or CRLF (a CR not followed by LF is data);
//   the last row may lack a line terminator. A field that starts with '"' is quoted: it ends at
//   the next lone '"', may contain ',', CR and LF, and "" stands for one '"'. After a closing
//   quote only ',' or a line end may follow. A '"' inside an unquoted field is taken literally.
//   Empty lines (no bytes before the terminator) are not rows and are skipped anywhere — so a
//   one-column file must quote an empty value as "". A UTF-8 byte-order mark before the header
//   is dropped. Every data row must have exactly as many fields as the header.
// - Shapes: header() and field(i) are raw bytes (no trimming, no charset checks). line_number()
//   is the 1-based physical line on which the current row starts (the header's is 1 unless
//   blank lines precede it); quoted line breaks count as lines.
// - Ownership/lifetime: field(i) views point into the reader's block buffer and stay valid only
//   until the next call to Next(); copy what must outlive the row. header() lives as long as the
//   reader.
// - Errors: Status values, never exceptions. Open: NotFound / IOError / Corruption from
//   InputStream; InvalidArgument "FILE: empty input, expected a header row". Next:
//   InvalidArgument "FILE:LINE: expected N fields, found M" (ragged row),
//   "FILE:LINE: unterminated quoted field (field K)", "FILE:LINE: unexpected character 'c'
//   after closing quote (field K)", "FILE:LINE: row longer than B bytes"; Corruption/IOError
//   from the stream. A ragged row is consumed, so Next() may be called again to go on; every
//   other error is sticky (Next() returns it again).
// - Performance: no per-row allocation. Input is read in blocks (default 1 MiB); a row that
//   spans a block boundary is moved to the front of the buffer before the next read, and its
//   parse resumes where it stopped (a row longer than the buffer grows it by doubling).
// - Thread-safety: none; one reader is used by one thread at a time.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "persistence/status.h"
#include "tools/input_stream.h"

namespace cowtree::tools {

struct CsvReaderOptions {
  // Bytes per read from the input; also the initial buffer size. Tests use tiny blocks to force
  // rows across block boundaries.
  size_t block_bytes = InputStream::kDefaultBlockBytes;
  // A row (with its quoted line breaks) longer than this is an error; it bounds memory when a
  // quote is never closed.
  size_t max_row_bytes = size_t{64} << 20;
};

// Parse a whole field as a base-10 int64 (optional leading '+' or '-', digits only). Errors
// (InvalidArgument, message without file context): "expected an integer, found 'abc'",
// "expected an integer, found an empty field", "integer out of range, found '...'".
Status ParseInt64Field(std::string_view text, int64_t* out);
// Parse a whole field as a double as PostgreSQL's float8 input does (std::from_chars general
// format, optional leading '+'): NaN, Infinity, -Infinity, inf, -inf in any letter case are
// accepted (every NaN is the one NaN, ordered after +Infinity). Errors like ParseInt64Field:
// "expected a number, ...", "number out of range, found '1e999'" (as PostgreSQL refuses it).
Status ParseDoubleField(std::string_view text, double* out);

class CsvReader {
 public:
  static Result<std::unique_ptr<CsvReader>> Open(const std::string& path,
                                                 const CsvReaderOptions& options = {});
  CsvReader(const CsvReader&) = delete;
  CsvReader& operator=(const CsvReader&) = delete;

  // Forwards to InputStream::SetWaitHook: while Next() waits for a slow pipe, the hook may run
  // (e.g. commit the rows read so far). The current row's fields are not touched by it.
  void SetWaitHook(InputStream::WaitHook hook) { stream_->SetWaitHook(std::move(hook)); }

  // The input's name as used in messages ("<stdin>" for "-").
  const std::string& name() const { return stream_->name(); }
  const std::vector<std::string>& header() const { return header_; }
  // Index of the header column called name. NotFound:
  // "FILE: no column 'x' in header (columns: a, b, c)"; InvalidArgument when two columns are
  // called name: "FILE:LINE: column 'x' appears more than once in the header (fields 1 and 3)".
  Result<size_t> ColumnIndex(std::string_view name) const;

  // Advances to the next data row: true if there is one, false at end of input.
  Result<bool> Next();
  size_t field_count() const { return fields_.size(); }
  // Field i of the current row (i < field_count(), asserted). Valid until the next Next().
  std::string_view field(size_t i) const;
  // Whether field i was quoted ("" is a quoted empty field; PostgreSQL's COPY ... CSV reads it
  // as an empty string, an unquoted empty field as NULL).
  bool field_quoted(size_t i) const;
  uint64_t line_number() const { return row_line_; }
  // Bytes of the (decompressed) input before the next row: through the end of the row Next()
  // returned last (and the BOM, the header and skipped empty lines).
  uint64_t consumed_bytes() const { return discarded_bytes_ + pos_; }
  // Whether the input is zstd-compressed (then consumed_bytes() counts decompressed bytes).
  bool compressed() const;
  // The stream the rows are parsed from (e.g. for InputVerifier::Start).
  const InputStream& stream() const { return *stream_; }

  // Field `column` of the current row parsed as a number. Errors are InvalidArgument with the
  // user-facing one-line message
  // "FILE:LINE: column 'delay' (field 2): expected an integer, found 'abc'" (field is 1-based).
  Status FieldInt64(size_t column, int64_t* out) const;
  Status FieldDouble(size_t column, double* out) const;

 private:
  enum class Parse : uint8_t { kRow, kBlankLine, kNeedMore, kEnd, kError };

  CsvReader(std::unique_ptr<InputStream> stream, const CsvReaderOptions& options);
  // Next() without the field-count check (also reads the header).
  Result<bool> ReadRow();
  // Where a row cut by the end of the buffer is continued after Refill(), as offsets from the
  // row's first byte; the row's completed fields stay in fields_ (Refill rebases the views).
  // Resuming instead of re-parsing keeps a row that spans many blocks linear in its length.
  struct Resume {
    enum class State : uint8_t { kNone, kNewField, kUnquoted, kQuoted };
    State state = State::kNone;
    bool escaped = false;  // the quoted field seen so far contains ""
    size_t field_offset = 0;
    size_t scan_offset = 0;
    uint64_t quoted_newlines = 0;
  };

  // Parses one row at pos_ into fields_; on kRow/kBlankLine advances pos_ and line_. Returns
  // kNeedMore when the buffered bytes end inside the row (after recording resume_).
  Parse ParseRow();
  Parse Suspend(const char* row, const char* start, const char* scan, Resume::State state,
                bool escaped, uint64_t quoted_newlines);
  // Moves the unparsed tail to the front of the buffer (growing it if needed) and reads more.
  Status Refill();
  // Makes "NAME:LINE: message" the sticky error_.
  void SetError(uint64_t line, const std::string& message);
  Status FieldError(size_t column, const Status& parse_error) const;

  std::unique_ptr<InputStream> stream_;
  CsvReaderOptions options_;
  // Input bytes [0, end_) of buf_; buf_[end_] is a '\n' sentinel, so capacity_ + 1 is allocated.
  std::unique_ptr<char[]> buf_;
  size_t capacity_ = 0;
  size_t pos_ = 0;  // first byte not yet parsed (start of the next row)
  uint64_t discarded_bytes_ = 0;  // input bytes Refill() moved out of buf_ before pos_
  size_t end_ = 0;
  bool eof_ = false;       // the stream has no more bytes beyond end_
  uint64_t line_ = 1;      // physical line of buf_[pos_]
  uint64_t row_line_ = 0;  // physical line where the current row starts
  uint64_t header_line_ = 1;  // physical line of the header row
  Resume resume_;
  std::vector<std::string_view> fields_;
  std::vector<uint32_t> escaped_fields_;  // fields of the row being parsed that contain ""
  std::vector<std::string> header_;
  Status error_;  // sticky; set by SetError and by stream errors
};

}  // namespace cowtree::tools
