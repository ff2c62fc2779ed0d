// CsvReader: a single-pass, allocation-free-per-row RFC 4180 parser over a block buffer.
//
// Fast path: an unquoted field is scanned with a 256-entry stop table (',', '\n', '\r'); a '\n'
// sentinel after the last buffered byte ends every scan without a bounds check in the loop.
// A quoted field is scanned with memchr for '"'. Fields are recorded as views into the buffer;
// "" escapes are collapsed in place only once the whole row has been seen, so that a row cut
// by the end of the buffer can simply be re-parsed from its start after Refill() moved it.
#include "tools/csv_reader.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <cstring>
#include <system_error>

#include "persistence/assert.h"

namespace cowtree::tools {
namespace {

constexpr std::array<bool, 256> MakeStopTable() {
  std::array<bool, 256> t{};
  t[static_cast<uint8_t>(',')] = true;
  t[static_cast<uint8_t>('\n')] = true;
  t[static_cast<uint8_t>('\r')] = true;
  return t;
}
constexpr std::array<bool, 256> kStop = MakeStopTable();

// Up to 40 bytes of a field for a message; bytes outside printable ASCII become \xNN.
std::string Quoted(std::string_view text) {
  constexpr size_t kMaxShownBytes = 40;
  std::string out = "'";
  for (size_t i = 0; i < text.size() && i < kMaxShownBytes; ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c >= 0x20 && c < 0x7f) {
      out.push_back(static_cast<char>(c));
    } else {
      static constexpr char kHex[] = "0123456789abcdef";
      out += "\\x";
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  out += text.size() > kMaxShownBytes ? "'..." : "'";
  return out;
}

// from_chars does not accept a leading '+'; skip one unless a sign follows it.
const char* SkipPlus(const char* begin, const char* end) {
  if (end - begin >= 2 && begin[0] == '+' && begin[1] != '-' && begin[1] != '+') return begin + 1;
  return begin;
}

}  // namespace

Status ParseInt64Field(std::string_view text, int64_t* out) {
  if (text.empty()) return Status::InvalidArgument("expected an integer, found an empty field");
  const char* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(SkipPlus(text.data(), end), end, *out);
  if (ec == std::errc::result_out_of_range) {
    return Status::InvalidArgument("integer out of range, found " + Quoted(text));
  }
  if (ec != std::errc() || ptr != end) {
    return Status::InvalidArgument("expected an integer, found " + Quoted(text));
  }
  return Status::OK();
}

Status ParseDoubleField(std::string_view text, double* out) {
  if (text.empty()) return Status::InvalidArgument("expected a number, found an empty field");
  const char* end = text.data() + text.size();
  const auto [ptr, ec] =
      std::from_chars(SkipPlus(text.data(), end), end, *out, std::chars_format::general);
  if (ec == std::errc::result_out_of_range) {
    return Status::InvalidArgument("number out of range, found " + Quoted(text));
  }
  if (ec != std::errc() || ptr != end) {
    return Status::InvalidArgument("expected a number, found " + Quoted(text));
  }
  return Status::OK();
}

CsvReader::CsvReader(std::unique_ptr<InputStream> stream, const CsvReaderOptions& options)
    : stream_(std::move(stream)), options_(options), capacity_(options.block_bytes) {
  buf_.reset(new char[capacity_ + 1]);
  buf_[0] = '\n';  // sentinel
}

Result<std::unique_ptr<CsvReader>> CsvReader::Open(const std::string& path,
                                                   const CsvReaderOptions& options) {
  if (options.block_bytes == 0 || options.max_row_bytes == 0) {
    return Status::InvalidArgument("CsvReader: block_bytes and max_row_bytes must be > 0");
  }
  COWTREE_ASSIGN_OR_RETURN(auto stream, InputStream::Open(path, options.block_bytes));
  std::unique_ptr<CsvReader> reader(new CsvReader(std::move(stream), options));
  // Drop a UTF-8 byte-order mark (spreadsheet exports write one).
  while (reader->end_ < 3 && !reader->eof_) COWTREE_RETURN_IF_ERROR(reader->Refill());
  if (reader->end_ >= 3 && std::memcmp(reader->buf_.get(), "\xEF\xBB\xBF", 3) == 0) {
    reader->pos_ = 3;
  }
  COWTREE_ASSIGN_OR_RETURN(const bool has_header, reader->ReadRow());
  if (!has_header) {
    return Status::InvalidArgument(reader->name() + ": empty input, expected a header row");
  }
  reader->header_.assign(reader->fields_.begin(), reader->fields_.end());
  reader->header_line_ = reader->row_line_;
  reader->fields_.clear();
  return reader;
}

namespace {

// `s` for an error message: control bytes (a NUL in a header printed raw hid the rest of the
// message on a terminal; adversarial round 17) and backslashes as \xNN escapes.
std::string Printable(std::string_view s) {
  std::string out;
  for (const char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f || c == '\\') {
      static constexpr char kHex[] = "0123456789abcdef";
      out += "\\x";
      out += kHex[u >> 4];
      out += kHex[u & 15];
    } else {
      out += c;
    }
  }
  return out;
}

}  // namespace

Result<size_t> CsvReader::ColumnIndex(std::string_view name) const {
  for (size_t i = 0; i < header_.size(); ++i) {
    if (header_[i] != name) continue;
    for (size_t j = i + 1; j < header_.size(); ++j) {
      if (header_[j] == name) {
        // Which of the two the user meant is unknowable: taking the first would read the
        // other column's data silently.
        return Status::InvalidArgument(
            this->name() + ":" + std::to_string(header_line_) + ": column '" + Printable(name) +
            "' appears more than once in the header (fields " + std::to_string(i + 1) + " and " +
            std::to_string(j + 1) + ")");
      }
    }
    return i;
  }
  std::string columns;
  for (size_t i = 0; i < header_.size(); ++i) {
    if (i > 0) columns += ", ";
    columns += Printable(header_[i]);
  }
  return Status::NotFound(this->name() + ": no column '" + Printable(name) +
                          "' in header (columns: " + columns + ")");
}

std::string_view CsvReader::field(size_t i) const {
  COWTREE_ASSERT(i < fields_.size());
  return fields_[i];
}

// A quoted field's view starts just past its opening '"'. An unquoted field starts at the row's
// first byte or just past a ','; the byte before a row is its predecessor's line end (or
// nothing, at the start of buf_), never '"'. So the byte before the view tells them apart.
bool CsvReader::field_quoted(size_t i) const {
  COWTREE_ASSERT(i < fields_.size());
  const char* data = fields_[i].data();
  return data > buf_.get() && data[-1] == '"';
}

Result<bool> CsvReader::Next() {
  COWTREE_ASSIGN_OR_RETURN(const bool has_row, ReadRow());
  if (has_row && fields_.size() != header_.size()) {
    // Not sticky: the row has been consumed, so a caller may report it and go on.
    return Status::InvalidArgument(name() + ":" + std::to_string(row_line_) + ": expected " +
                                   std::to_string(header_.size()) + " fields, found " +
                                   std::to_string(fields_.size()));
  }
  return has_row;
}

Result<bool> CsvReader::ReadRow() {
  if (!error_.ok()) return error_;
  for (;;) {
    switch (ParseRow()) {
      case Parse::kRow:
        return true;
      case Parse::kBlankLine:
        continue;
      case Parse::kNeedMore:
        COWTREE_RETURN_IF_ERROR(Refill());
        continue;
      case Parse::kEnd:
        fields_.clear();
        return false;
      case Parse::kError:
        return error_;
    }
  }
}

CsvReader::Parse CsvReader::Suspend(const char* row, const char* start, const char* scan,
                                    Resume::State state, bool escaped, uint64_t quoted_newlines) {
  resume_.state = state;
  resume_.escaped = escaped;
  resume_.field_offset = static_cast<size_t>(start - row);
  resume_.scan_offset = static_cast<size_t>(scan - row);
  resume_.quoted_newlines = quoted_newlines;
  return Parse::kNeedMore;
}

CsvReader::Parse CsvReader::ParseRow() {
  char* const base = buf_.get();
  char* const end = base + end_;
  char* const row = base + pos_;
  char* p = row;         // scan position
  char* start = row;     // first content byte of the current field
  bool quoted = false;   // the current field is quoted (start is just past its '"')
  bool escaped = false;  // the current quoted field contains ""
  uint64_t quoted_newlines = 0;
  bool resumed = resume_.state != Resume::State::kNone;
  if (resumed) {
    // Continue the row that the previous call left at the end of the buffer.
    start = row + resume_.field_offset;
    p = row + resume_.scan_offset;
    quoted = resume_.state == Resume::State::kQuoted;
    resumed = resume_.state != Resume::State::kNewField;
    escaped = resume_.escaped;
    quoted_newlines = resume_.quoted_newlines;
    resume_.state = Resume::State::kNone;
  } else {
    // The previous row's views are dead from here on (contract: valid until the next Next()).
    // Clear them now, not only when a row starts: Refill would otherwise rebase them at every
    // refill that ends on a row boundary or inside blank lines, costing O(fields of the last
    // row) each time (found by tests/fuzz/csv: one wide row followed by many blank lines).
    fields_.clear();
    escaped_fields_.clear();
    if (p == end) return eof_ ? Parse::kEnd : Parse::kNeedMore;
    // An empty line (LF, CRLF, or a lone CR at end of input) is not a row.
    if (*p == '\n' || (*p == '\r' && (p + 1 == end || p[1] == '\n'))) {
      if (*p == '\r' && p + 1 == end && !eof_) return Parse::kNeedMore;
      pos_ += (*p == '\r' && p + 1 != end) ? 2 : 1;
      ++line_;
      return Parse::kBlankLine;
    }
  }
  for (;;) {  // one field per iteration
    if (!resumed) {
      if (p == end && !eof_) {
        return Suspend(row, p, p, Resume::State::kNewField, false, quoted_newlines);
      }
      quoted = *p == '"';
      escaped = false;
      start = quoted ? p + 1 : p;
      p = start;
    }
    resumed = false;
    if (!quoted) {
      for (;;) {
        while (!kStop[static_cast<uint8_t>(*p)]) ++p;
        if (*p == ',') {
          fields_.emplace_back(start, static_cast<size_t>(p - start));
          ++p;
          break;  // next field
        }
        if (p == end) {
          if (!eof_) {
            return Suspend(row, start, p, Resume::State::kUnquoted, false, quoted_newlines);
          }
          fields_.emplace_back(start, static_cast<size_t>(p - start));
          goto row_done;
        }
        if (*p == '\n') {
          fields_.emplace_back(start, static_cast<size_t>(p - start));
          ++p;
          goto row_done;
        }
        // '\r': a line end if LF (or end of input) follows, else data.
        if (p + 1 == end) {
          if (!eof_) {
            return Suspend(row, start, p, Resume::State::kUnquoted, false, quoted_newlines);
          }
          fields_.emplace_back(start, static_cast<size_t>(p - start));
          p = end;
          goto row_done;
        }
        if (p[1] == '\n') {
          fields_.emplace_back(start, static_cast<size_t>(p - start));
          p += 2;
          goto row_done;
        }
        ++p;
      }
      continue;
    }
    // Quoted field: p is past every "" pair seen so far.
    char* close;
    for (;;) {
      close = static_cast<char*>(std::memchr(p, '"', static_cast<size_t>(end - p)));
      if (close == nullptr) {
        if (!eof_) {
          quoted_newlines += static_cast<uint64_t>(std::count(p, end, '\n'));
          return Suspend(row, start, end, Resume::State::kQuoted, escaped, quoted_newlines);
        }
        SetError(line_,
                 "unterminated quoted field (field " + std::to_string(fields_.size() + 1) + ")");
        return Parse::kError;
      }
      quoted_newlines += static_cast<uint64_t>(std::count(p, close, '\n'));
      // The quote is the last buffered byte: it may be the first half of "", or be followed by
      // CR; look again when more input is buffered.
      if (close + 2 >= end && !eof_) {
        return Suspend(row, start, close, Resume::State::kQuoted, escaped, quoted_newlines);
      }
      if (close + 1 != end && close[1] == '"') {
        escaped = true;
        p = close + 2;
        continue;
      }
      break;
    }
    if (escaped) escaped_fields_.push_back(static_cast<uint32_t>(fields_.size()));
    fields_.emplace_back(start, static_cast<size_t>(close - start));
    p = close + 1;
    if (p == end) goto row_done;  // end of input (otherwise Suspend above)
    if (*p == ',') {
      ++p;
      continue;
    }
    if (*p == '\n') {
      ++p;
      goto row_done;
    }
    if (*p == '\r' && (p + 1 == end || p[1] == '\n')) {  // p + 1 == end only at end of input
      p += p + 1 == end ? 1 : 2;
      goto row_done;
    }
    SetError(line_, "unexpected character " + Quoted(std::string_view(p, 1)) +
                        " after closing quote (field " + std::to_string(fields_.size()) + ")");
    return Parse::kError;
  }
row_done:
  // Collapse "" to " in place; the field only shrinks, so it stays inside its own bytes.
  for (const uint32_t i : escaped_fields_) {
    char* const data = const_cast<char*>(fields_[i].data());
    const size_t size = fields_[i].size();
    size_t w = 0;
    for (size_t r = 0; r < size; ++r) {
      data[w++] = data[r];
      if (data[r] == '"') ++r;  // skip the second quote of the pair
    }
    fields_[i] = std::string_view(data, w);
  }
  row_line_ = line_;
  line_ += 1 + quoted_newlines;
  pos_ = static_cast<size_t>(p - base);
  return Parse::kRow;
}

bool CsvReader::compressed() const { return stream_->compressed(); }

Status CsvReader::Refill() {
  const size_t tail = end_ - pos_;
  if (tail >= options_.max_row_bytes) {
    SetError(line_, "row longer than " + std::to_string(options_.max_row_bytes) +
                        " bytes (unterminated quoted field?)");
    return error_;
  }
  // Views of the fields already parsed of a suspended row follow the bytes they point into.
  if (pos_ > 0) {
    discarded_bytes_ += pos_;
    std::memmove(buf_.get(), buf_.get() + pos_, tail);
    for (std::string_view& f : fields_) f = std::string_view(f.data() - pos_, f.size());
    pos_ = 0;
    end_ = tail;
  }
  // A row longer than half a block grows the buffer (doubling: O(row) total copying).
  if ((capacity_ - end_) * 2 < options_.block_bytes || capacity_ == end_) {
    const size_t new_capacity = std::max(capacity_ * 2, end_ + options_.block_bytes);
    std::unique_ptr<char[]> bigger(new char[new_capacity + 1]);
    std::memcpy(bigger.get(), buf_.get(), end_);
    for (std::string_view& f : fields_) {
      f = std::string_view(bigger.get() + (f.data() - buf_.get()), f.size());
    }
    buf_ = std::move(bigger);
    capacity_ = new_capacity;
  }
  const size_t want = std::min(capacity_ - end_, options_.block_bytes);
  size_t got = 0;
  const Status st = stream_->Read(buf_.get() + end_, want, &got);
  if (!st.ok()) {
    error_ = st;
    return st;
  }
  end_ += got;
  // A pipe delivers what has arrived (InputStream::partial_reads): only 0 bytes is its end.
  if (got == 0 || (got < want && !stream_->partial_reads())) eof_ = true;
  buf_[end_] = '\n';  // sentinel
  return Status::OK();
}

void CsvReader::SetError(uint64_t line, const std::string& message) {
  error_ = Status::InvalidArgument(name() + ":" + std::to_string(line) + ": " + message);
}

Status CsvReader::FieldError(size_t column, const Status& parse_error) const {
  return Status::InvalidArgument(name() + ":" + std::to_string(row_line_) + ": column '" +
                                 header_[column] + "' (field " + std::to_string(column + 1) +
                                 "): " + parse_error.message());
}

Status CsvReader::FieldInt64(size_t column, int64_t* out) const {
  const Status st = ParseInt64Field(field(column), out);
  return st.ok() ? st : FieldError(column, st);
}

Status CsvReader::FieldDouble(size_t column, double* out) const {
  const Status st = ParseDoubleField(field(column), out);
  return st.ok() ? st : FieldError(column, st);
}

}  // namespace cowtree::tools
