// Tests of tools/input_stream.h and tools/csv_reader.h: RFC 4180 dialect, error messages,
// zstd input, and rows that straddle the reader's block boundary.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>
#include <zstd.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "testutil/zstd_frames.h"
#include "tools/csv_reader.h"
#include "tools/input_stream.h"
#include "tools/input_verifier.h"

namespace cowtree::tools {
namespace {

using Rows = std::vector<std::vector<std::string>>;

const std::string kDataDir = std::string(COWTREE_SOURCE_DIR) + "/tests/data";

class CsvReaderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/cowtree_csv_test_XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::system(("rm -rf '" + dir_ + "'").c_str()); }

  std::string WriteFile(const std::string& name, const std::string& bytes) {
    const std::string path = dir_ + "/" + name;
    std::ofstream out(path, std::ios::binary);
    out << bytes;
    return path;
  }

  std::string dir_;
};

std::string ReadWholeFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string Compress(const std::string& plain, int level = 3) {
  std::string out(ZSTD_compressBound(plain.size()), '\0');
  const size_t n = ZSTD_compress(out.data(), out.size(), plain.data(), plain.size(), level);
  EXPECT_FALSE(ZSTD_isError(n));
  out.resize(n);
  return out;
}

// Reads every data row (header excluded); fails the test on any error.
Rows ReadAll(const std::string& path, CsvReaderOptions options = {},
             std::vector<uint64_t>* lines = nullptr) {
  Rows rows;
  auto reader = CsvReader::Open(path, options);
  EXPECT_TRUE(reader.ok()) << reader.status().ToString();
  if (!reader.ok()) return rows;
  rows.push_back((*reader)->header());
  for (;;) {
    auto next = (*reader)->Next();
    EXPECT_TRUE(next.ok()) << next.status().ToString();
    if (!next.ok() || !*next) break;
    std::vector<std::string> row;
    for (size_t i = 0; i < (*reader)->field_count(); ++i) {
      row.emplace_back((*reader)->field(i));
    }
    if (lines != nullptr) lines->push_back((*reader)->line_number());
    rows.push_back(std::move(row));
  }
  return rows;
}

// The error of the first failing Next() (OK status if none fails).
Status FirstError(const std::string& path, CsvReaderOptions options = {}) {
  auto reader = CsvReader::Open(path, options);
  if (!reader.ok()) return reader.status();
  for (;;) {
    auto next = (*reader)->Next();
    if (!next.ok()) return next.status();
    if (!*next) return Status::OK();
  }
}

TEST_F(CsvReaderTest, ReadsFlights1k) {
  std::vector<uint64_t> lines;
  const Rows rows = ReadAll(kDataDir + "/flights-1k.csv", {}, &lines);
  ASSERT_EQ(rows.size(), 1001u);
  EXPECT_EQ(rows[0],
            (std::vector<std::string>{"date", "delay", "distance", "origin", "destination"}));
  EXPECT_EQ(rows[1], (std::vector<std::string>{"2001-01-01T00:01", "33", "2176", "LAS", "PHL"}));
  EXPECT_EQ(lines.front(), 2u);
  EXPECT_EQ(lines.back(), 1001u);
}

TEST_F(CsvReaderTest, QuotedFieldsEscapesAndEmbeddedSeparators) {
  const std::string path = WriteFile("q.csv",
                                     "a,b,c\n"
                                     "\"x,y\",\"say \"\"hi\"\"\",\"line1\nline2\"\n"
                                     "\"\",,\"\"\"\"\n"
                                     "plain,\"\",\"a\"\"\"\n"
                                     "bare\"quote,x,y\n");
  std::vector<uint64_t> lines;
  const Rows rows = ReadAll(path, {}, &lines);
  ASSERT_EQ(rows.size(), 5u);
  EXPECT_EQ(rows[1], (std::vector<std::string>{"x,y", "say \"hi\"", "line1\nline2"}));
  EXPECT_EQ(rows[2], (std::vector<std::string>{"", "", "\""}));
  EXPECT_EQ(rows[3], (std::vector<std::string>{"plain", "", "a\""}));
  EXPECT_EQ(rows[4], (std::vector<std::string>{"bare\"quote", "x", "y"}));
  // The quoted line break counts as a line: rows start on lines 2, 4, 5, 6.
  EXPECT_EQ(lines, (std::vector<uint64_t>{2, 4, 5, 6}));
}

TEST_F(CsvReaderTest, CrlfAndLoneCr) {
  const std::string path = WriteFile("crlf.csv", "a,b\r\n1,2\r\n\"q\r\nq\",x\r\ncr\rinside,y\r\n");
  const Rows rows = ReadAll(path);
  ASSERT_EQ(rows.size(), 4u);
  EXPECT_EQ(rows[0], (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(rows[1], (std::vector<std::string>{"1", "2"}));
  EXPECT_EQ(rows[2], (std::vector<std::string>{"q\r\nq", "x"}));
  EXPECT_EQ(rows[3], (std::vector<std::string>{"cr\rinside", "y"}));
}

TEST_F(CsvReaderTest, MissingFinalNewline) {
  for (const std::string& body : {std::string("a,b\n1,2"), std::string("a,b\r\n1,2\r"),
                                  std::string("a,b\n1,\"2\""), std::string("a,b\n1,")}) {
    const Rows rows = ReadAll(WriteFile("nonl.csv", body));
    ASSERT_EQ(rows.size(), 2u) << body;
    EXPECT_EQ(rows[1][0], "1");
    EXPECT_EQ(rows[1][1], body.back() == ',' ? "" : "2");
  }
}

TEST_F(CsvReaderTest, EmptyLinesAreNotRows) {
  std::vector<uint64_t> lines;
  const Rows rows = ReadAll(WriteFile("blank.csv", "\na,b\n1,2\n\r\n3,4\n\n\n"), {}, &lines);
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[2], (std::vector<std::string>{"3", "4"}));
  EXPECT_EQ(lines, (std::vector<uint64_t>{3, 5}));
}

TEST_F(CsvReaderTest, HeaderOnlyAndEmptyInput) {
  EXPECT_EQ(ReadAll(WriteFile("h.csv", "a,b\n")).size(), 1u);
  const Status st = FirstError(WriteFile("empty.csv", ""));
  EXPECT_TRUE(st.IsInvalidArgument());
  EXPECT_EQ(st.message(), dir_ + "/empty.csv: empty input, expected a header row");
  EXPECT_TRUE(FirstError(WriteFile("blank.csv", "\n\r\n")).IsInvalidArgument());
}

TEST_F(CsvReaderTest, Utf8ByteOrderMarkIsDropped) {
  const Rows rows = ReadAll(WriteFile("bom.csv", "\xEF\xBB\xBFid,v\n1,2\n"), {.block_bytes = 1});
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0][0], "id");
}

TEST_F(CsvReaderTest, RaggedRowNamesFileAndLineAndCanContinue) {
  const std::string path = WriteFile("ragged.csv", "a,b,c\n1,2,3\n4,5\n6,7,8,9\n10,11,12\n");
  auto reader = CsvReader::Open(path);
  ASSERT_TRUE(reader.ok());
  auto next = (*reader)->Next();
  ASSERT_TRUE(next.ok() && *next);
  next = (*reader)->Next();
  ASSERT_FALSE(next.ok());
  EXPECT_TRUE(next.status().IsInvalidArgument());
  EXPECT_EQ(next.status().message(), path + ":3: expected 3 fields, found 2");
  next = (*reader)->Next();
  ASSERT_FALSE(next.ok());
  EXPECT_EQ(next.status().message(), path + ":4: expected 3 fields, found 4");
  next = (*reader)->Next();
  ASSERT_TRUE(next.ok() && *next);
  EXPECT_EQ((*reader)->field(2), "12");
  EXPECT_EQ((*reader)->line_number(), 5u);
}

TEST_F(CsvReaderTest, ColumnIndexAndMissingColumnMessage) {
  auto reader = CsvReader::Open(kDataDir + "/flights-1k.csv");
  ASSERT_TRUE(reader.ok());
  auto idx = (*reader)->ColumnIndex("delay");
  ASSERT_TRUE(idx.ok());
  EXPECT_EQ(*idx, 1u);
  auto missing = (*reader)->ColumnIndex("dealy");
  ASSERT_FALSE(missing.ok());
  EXPECT_TRUE(missing.status().IsNotFound());
  EXPECT_EQ(missing.status().message(),
            kDataDir +
                "/flights-1k.csv: no column 'dealy' in header (columns: date, delay, distance, "
                "origin, destination)");
}

// field_quoted tells "" (an empty string in PostgreSQL's COPY ... CSV) from an empty field
// (NULL), at every block size, so at every position of a block boundary; quotes inside an
// unquoted field and "" pairs inside a quoted one do not confuse it.
TEST_F(CsvReaderTest, FieldQuotedTellsAQuotedEmptyFieldFromAnEmptyOne) {
  const std::string text = "a,b,c\n\"\",,x\n,\"\",\"\"\"\"\n\"q\",a\"b,\"\"\r\n,,\n\"\",\"\",\"\"";
  // Per data row: field text and whether it was quoted.
  const std::vector<std::vector<std::pair<std::string, bool>>> want = {
      {{"", true}, {"", false}, {"x", false}},    {{"", false}, {"", true}, {"\"", true}},
      {{"q", true}, {"a\"b", false}, {"", true}}, {{"", false}, {"", false}, {"", false}},
      {{"", true}, {"", true}, {"", true}},
  };
  const std::string path = WriteFile("quoted.csv", text);
  for (size_t block = 1; block <= text.size() + 1; ++block) {
    auto reader = CsvReader::Open(path, {.block_bytes = block});
    ASSERT_TRUE(reader.ok()) << reader.status().ToString();
    for (size_t r = 0; r < want.size(); ++r) {
      auto next = (*reader)->Next();
      ASSERT_TRUE(next.ok() && *next) << "block " << block << " row " << r;
      for (size_t i = 0; i < 3; ++i) {
        EXPECT_EQ((*reader)->field(i), want[r][i].first) << block << " " << r << " " << i;
        EXPECT_EQ((*reader)->field_quoted(i), want[r][i].second) << block << " " << r << " " << i;
      }
    }
    auto end = (*reader)->Next();
    ASSERT_TRUE(end.ok() && !*end);
  }
}

// A name that two header columns carry is refused: taking the first silently read the wrong
// column when the user meant the other (found by an adversarial run). Other columns may repeat.
TEST_F(CsvReaderTest, AColumnNamedTwiceInTheHeaderIsRefused) {
  const std::string path = WriteFile("dup.csv", "\ng,v,x,v,x\na,1,2,3,4\n");
  auto reader = CsvReader::Open(path);
  ASSERT_TRUE(reader.ok());
  auto v = (*reader)->ColumnIndex("v");
  ASSERT_FALSE(v.ok());
  EXPECT_TRUE(v.status().IsInvalidArgument());
  EXPECT_EQ(v.status().message(),
            path + ":2: column 'v' appears more than once in the header (fields 2 and 4)");
  auto g = (*reader)->ColumnIndex("g");
  ASSERT_TRUE(g.ok());
  EXPECT_EQ(*g, 0u);
}

// Control bytes of a header are escaped in messages: a NUL printed raw made "no column 'g'
// in header (columns: g, v)" read as if the column were there (adversarial round 17).
TEST_F(CsvReaderTest, ControlBytesInTheHeaderAreEscapedInMessages) {
  const std::string path = WriteFile("nul.csv", std::string("g\0x,v\\1\n", 8) + "a,1\n");
  auto reader = CsvReader::Open(path);
  ASSERT_TRUE(reader.ok());
  auto g = (*reader)->ColumnIndex("g");
  ASSERT_FALSE(g.ok());
  EXPECT_EQ(g.status().message(), path + ": no column 'g' in header (columns: g\\x00x, v\\x5c1)");
  EXPECT_EQ(g.status().message().find('\0'), std::string::npos);
}

TEST_F(CsvReaderTest, NumericFieldMessagesNameFileLineAndColumn) {
  const std::string path = WriteFile("num.csv",
                                     "name,delay,ratio\n"
                                     "a,12,0.5\n"
                                     "b,abc,1e3\n"
                                     "c,99999999999999999999,1e999\n"
                                     "d,,nan\n"
                                     "e,12x,-2.5e-3\n");
  auto reader = CsvReader::Open(path);
  ASSERT_TRUE(reader.ok());
  CsvReader& r = **reader;
  int64_t i = 0;
  double d = 0;
  ASSERT_TRUE(*r.Next());
  ASSERT_TRUE(r.FieldInt64(1, &i).ok());
  EXPECT_EQ(i, 12);
  ASSERT_TRUE(r.FieldDouble(2, &d).ok());
  EXPECT_EQ(d, 0.5);

  ASSERT_TRUE(*r.Next());
  EXPECT_EQ(r.FieldInt64(1, &i).message(),
            path + ":3: column 'delay' (field 2): expected an integer, found 'abc'");
  ASSERT_TRUE(r.FieldDouble(2, &d).ok());
  EXPECT_EQ(d, 1000.0);

  ASSERT_TRUE(*r.Next());
  const Status overflow = r.FieldInt64(1, &i);
  EXPECT_TRUE(overflow.IsInvalidArgument());
  EXPECT_EQ(overflow.message(), path +
                                    ":4: column 'delay' (field 2): integer out of range, found "
                                    "'99999999999999999999'");
  EXPECT_EQ(r.FieldDouble(2, &d).message(),
            path + ":4: column 'ratio' (field 3): number out of range, found '1e999'");

  ASSERT_TRUE(*r.Next());
  EXPECT_EQ(r.FieldInt64(1, &i).message(),
            path + ":5: column 'delay' (field 2): expected an integer, found an empty field");
  ASSERT_TRUE(r.FieldDouble(2, &d).ok());  // PostgreSQL's float8 accepts NaN
  EXPECT_TRUE(std::isnan(d));

  ASSERT_TRUE(*r.Next());
  EXPECT_EQ(r.FieldInt64(1, &i).message(),
            path + ":6: column 'delay' (field 2): expected an integer, found '12x'");
  ASSERT_TRUE(r.FieldDouble(2, &d).ok());
  EXPECT_DOUBLE_EQ(d, -2.5e-3);
}

TEST(ParseFieldTest, Int64EdgeCases) {
  int64_t v = 0;
  ASSERT_TRUE(ParseInt64Field("-1116", &v).ok());
  EXPECT_EQ(v, -1116);
  ASSERT_TRUE(ParseInt64Field("+7", &v).ok());
  EXPECT_EQ(v, 7);
  ASSERT_TRUE(ParseInt64Field("9223372036854775807", &v).ok());
  EXPECT_EQ(v, std::numeric_limits<int64_t>::max());
  ASSERT_TRUE(ParseInt64Field("-9223372036854775808", &v).ok());
  EXPECT_EQ(v, std::numeric_limits<int64_t>::min());
  EXPECT_TRUE(ParseInt64Field("9223372036854775808", &v).IsInvalidArgument());
  for (const char* bad : {"", "+", "-", "+-5", "++5", " 5", "5 ", "1.5", "0x10", "1e3"}) {
    EXPECT_TRUE(ParseInt64Field(bad, &v).IsInvalidArgument()) << "'" << bad << "'";
  }
  const Status st = ParseInt64Field(std::string(60, '7') + "\x01", &v);
  EXPECT_EQ(st.message(), "integer out of range, found '" + std::string(40, '7') + "'...");
  EXPECT_EQ(ParseInt64Field("a\tb", &v).message(), "expected an integer, found 'a\\x09b'");
}

TEST(ParseFieldTest, DoubleEdgeCases) {
  double v = 0;
  ASSERT_TRUE(ParseDoubleField("+1.25", &v).ok());
  EXPECT_EQ(v, 1.25);
  ASSERT_TRUE(ParseDoubleField("-0", &v).ok());
  ASSERT_TRUE(ParseDoubleField("42", &v).ok());
  EXPECT_EQ(v, 42.0);
  // PostgreSQL's float8 spellings of the non-finite values.
  for (const char* text : {"Infinity", "inf", "+inf", "INFINITY"}) {
    ASSERT_TRUE(ParseDoubleField(text, &v).ok()) << text;
    EXPECT_EQ(v, std::numeric_limits<double>::infinity()) << text;
  }
  for (const char* text : {"-Infinity", "-inf"}) {
    ASSERT_TRUE(ParseDoubleField(text, &v).ok()) << text;
    EXPECT_EQ(v, -std::numeric_limits<double>::infinity()) << text;
  }
  for (const char* text : {"NaN", "nan", "NAN"}) {
    ASSERT_TRUE(ParseDoubleField(text, &v).ok()) << text;
    EXPECT_TRUE(std::isnan(v)) << text;
  }
  for (const char* bad : {"", "infinit", "nanx", "1.5x", " 1", "1,5", "0x1p3", "1e999"}) {
    EXPECT_TRUE(ParseDoubleField(bad, &v).IsInvalidArgument()) << "'" << bad << "'";
  }
}

TEST_F(CsvReaderTest, SyntaxErrorsAreStickyAndNameTheLine) {
  const std::string a = WriteFile("unterminated.csv", "a,b\n1,2\n3,\"open\nmore\n");
  Status st = FirstError(a);
  EXPECT_TRUE(st.IsInvalidArgument());
  EXPECT_EQ(st.message(), a + ":3: unterminated quoted field (field 2)");

  const std::string b = WriteFile("after_quote.csv", "a,b\n\"x\"y,2\n");
  st = FirstError(b);
  EXPECT_EQ(st.message(), b + ":2: unexpected character 'y' after closing quote (field 1)");
  auto reader = CsvReader::Open(b);
  ASSERT_TRUE(reader.ok());
  EXPECT_FALSE((*reader)->Next().ok());
  EXPECT_EQ((*reader)->Next().status().message(), st.message());  // sticky

  // An unclosed quote with more input than max_row_bytes stops at the limit.
  std::string long_body = "a\n\"";
  long_body += std::string(5000, 'x') + "\n";
  const std::string c = WriteFile("long.csv", long_body);
  st = FirstError(c, {.block_bytes = 256, .max_row_bytes = 1024});
  EXPECT_TRUE(st.IsInvalidArgument());
  EXPECT_EQ(st.message(), c + ":2: row longer than 1024 bytes (unterminated quoted field?)");
}

TEST_F(CsvReaderTest, MissingFileAndDirectory) {
  auto missing = CsvReader::Open(dir_ + "/nope.csv");
  ASSERT_FALSE(missing.ok());
  EXPECT_TRUE(missing.status().IsNotFound());
  EXPECT_EQ(missing.status().message(), dir_ + "/nope.csv: no such file");
  auto directory = CsvReader::Open(dir_);
  ASSERT_FALSE(directory.ok());
  EXPECT_TRUE(directory.status().IsIOError()) << directory.status().ToString();
  EXPECT_NE(directory.status().message().find(dir_), std::string::npos);
}

TEST_F(CsvReaderTest, ZstdInputEqualsPlainInput) {
  const std::string plain_path = kDataDir + "/flights-1k.csv";
  const std::string plain = ReadWholeFile(plain_path);
  const std::string zst = WriteFile("f.csv.zst", Compress(plain));
  // Detected by the magic number, not the name.
  const std::string no_ext = WriteFile("f.data", Compress(plain));
  // Two concatenated frames decode as one stream.
  const std::string two_frames =
      WriteFile("two.zst", Compress(plain.substr(0, 1000)) + Compress(plain.substr(1000), 19));
  const Rows expected = ReadAll(plain_path);
  ASSERT_EQ(expected.size(), 1001u);
  for (size_t block : {size_t{1}, size_t{7}, size_t{4096}, InputStream::kDefaultBlockBytes}) {
    EXPECT_EQ(ReadAll(zst, {.block_bytes = block}), expected) << block;
    EXPECT_EQ(ReadAll(no_ext, {.block_bytes = block}), expected) << block;
    EXPECT_EQ(ReadAll(two_frames, {.block_bytes = block}), expected) << block;
  }
  auto stream = InputStream::Open(no_ext);
  ASSERT_TRUE(stream.ok());
  EXPECT_TRUE((*stream)->compressed());
}

TEST_F(CsvReaderTest, Flights200kSliceHas200kRows) {
  auto reader = CsvReader::Open(kDataDir + "/flights-200k.csv.zst");
  ASSERT_TRUE(reader.ok()) << reader.status().ToString();
  const size_t delay = *(*reader)->ColumnIndex("delay");
  uint64_t rows = 0;
  int64_t min_delay = 0, max_delay = 0, v = 0;
  for (;;) {
    auto next = (*reader)->Next();
    ASSERT_TRUE(next.ok()) << next.status().ToString();
    if (!*next) break;
    ASSERT_TRUE((*reader)->FieldInt64(delay, &v).ok());
    min_delay = std::min(min_delay, v);
    max_delay = std::max(max_delay, v);
    ++rows;
  }
  EXPECT_EQ(rows, 200000u);
  EXPECT_GE(min_delay, -1116);
  EXPECT_LE(max_delay, 1688);
}

TEST_F(CsvReaderTest, CorruptZstdIsCorruptionWithOffset) {
  std::string compressed = Compress(ReadWholeFile(kDataDir + "/flights-1k.csv"));
  ASSERT_GT(compressed.size(), 200u);
  // Damage the first block header (just past the frame header): the decoder rejects it.
  std::string bad = compressed;
  for (size_t i = 6; i < 40; ++i) bad[i] = static_cast<char>(0xff);
  const std::string path = WriteFile("bad.csv.zst", bad);
  const Status st = FirstError(path);
  EXPECT_TRUE(st.IsCorruption()) << st.ToString();
  EXPECT_EQ(st.message().rfind(path + ": corrupt zstd data near compressed byte offset ", 0), 0u)
      << st.message();

  const std::string truncated =
      WriteFile("trunc.csv.zst", compressed.substr(0, compressed.size() / 2));
  const Status tst = FirstError(truncated, {.block_bytes = 64});
  EXPECT_TRUE(tst.IsCorruption()) << tst.ToString();
  EXPECT_EQ(tst.message(), truncated +
                               ": truncated zstd data: input ends inside a frame at compressed "
                               "byte offset " +
                               std::to_string(compressed.size() / 2));

  // A .zst name without the magic number is not silently parsed as text.
  const std::string fake = WriteFile("fake.csv.zst", "a,b\n1,2\n");
  auto reader = CsvReader::Open(fake);
  ASSERT_FALSE(reader.ok());
  EXPECT_TRUE(reader.status().IsCorruption());
  EXPECT_EQ(reader.status().message(),
            fake + ": not zstd-compressed (no zstd magic number at byte offset 0)");
}

// The verifier reads a zstd file to its end on its own thread: a failed checksum (the frame's
// last 4 bytes; every row decodes) is its result before the reader would get there. Plain
// files are not verified (nullptr).
TEST_F(CsvReaderTest, InputVerifierFindsAFailedChecksumOfAZstdFile) {
  const std::string plain = ReadWholeFile(kDataDir + "/flights-1k.csv");
  const std::string good = cowtree::testutil::ZstdWithChecksum(plain);
  std::string bad = good;
  bad.back() = static_cast<char>(bad.back() ^ 1);
  for (const size_t block : {size_t{64}, InputStream::kDefaultBlockBytes}) {
    auto good_stream = InputStream::Open(WriteFile("good.csv.zst", good), block);
    ASSERT_TRUE(good_stream.ok()) << good_stream.status().ToString();
    std::unique_ptr<InputVerifier> v = InputVerifier::Start(**good_stream);
    ASSERT_NE(v, nullptr);
    EXPECT_TRUE(v->Wait().ok());
    EXPECT_TRUE(v->Wait().ok());  // joined once, same result

    const std::string bad_path = WriteFile("bad.csv.zst", bad);
    auto bad_stream = InputStream::Open(bad_path, block);
    ASSERT_TRUE(bad_stream.ok()) << bad_stream.status().ToString();
    v = InputVerifier::Start(**bad_stream);
    ASSERT_NE(v, nullptr);
    const Status st = v->Wait();
    EXPECT_TRUE(st.IsCorruption()) << st.ToString();
    EXPECT_EQ(st.message().rfind(bad_path + ": corrupt zstd data near compressed byte offset ", 0),
              0u)
        << st.message();
    EXPECT_NE(st.message().find("checksum"), std::string::npos) << st.message();
    // The file is read through the same inode: renaming another file over the name after the
    // open does not change what is verified.
    v = InputVerifier::Start(**bad_stream);
    ASSERT_NE(v, nullptr);
    WriteFile("good2.csv.zst", good);
    ASSERT_EQ(std::rename((dir_ + "/good2.csv.zst").c_str(), bad_path.c_str()), 0);
    EXPECT_TRUE(v->Wait().IsCorruption());
  }
  auto plain_stream = InputStream::Open(WriteFile("plain.csv", plain));
  ASSERT_TRUE(plain_stream.ok());
  EXPECT_EQ(InputVerifier::Start(**plain_stream), nullptr);
}

// Quotes a field when it needs it (and always when asked), doubling its quotes.
std::string Encode(const std::string& field, bool force_quotes) {
  if (!force_quotes && field.find_first_of(",\"\r\n") == std::string::npos) return field;
  std::string out = "\"";
  for (char c : field) {
    out.push_back(c);
    if (c == '"') out.push_back('"');
  }
  return out + "\"";
}

// Every block size from 1 byte up puts a block boundary at every position of some row: inside
// quoted fields, between the two quotes of "", between CR and LF, right after a closing quote.
TEST_F(CsvReaderTest, RowsSpanningBlockBoundariesParseIdentically) {
  std::mt19937_64 rng(20240601);
  const std::string alphabet = "ab,\"\r\n";
  for (int round = 0; round < 30; ++round) {
    const size_t columns = 1 + rng() % 4;
    Rows rows;
    std::vector<uint64_t> lines;  // expected line_number() of each data row
    std::string text;
    const size_t row_count = 1 + rng() % 40;
    for (size_t r = 0; r <= row_count; ++r) {  // row 0 is the header
      if (r > 0) lines.push_back(1 + std::count(text.begin(), text.end(), '\n'));
      std::vector<std::string> row;
      for (size_t c = 0; c < columns; ++c) {
        std::string f;
        const size_t len = rng() % 6;
        for (size_t k = 0; k < len; ++k) f.push_back(alphabet[rng() % alphabet.size()]);
        row.push_back(f);
        // A one-column row whose only field is empty must be quoted, or it is a blank line.
        const bool force = rng() % 5 == 0 || (columns == 1 && f.empty());
        text += (c > 0 ? "," : "") + Encode(f, force);
      }
      const bool last = r == row_count;
      if (!last || rng() % 2 == 0) text += rng() % 2 ? "\r\n" : "\n";
      rows.push_back(std::move(row));
    }
    const std::string path = WriteFile("fuzz.csv", text);
    const std::string zpath = WriteFile("fuzz.csv.zst", Compress(text));
    for (size_t block : {1, 2, 3, 5, 8, 13, 64, 1 << 20}) {
      std::vector<uint64_t> got_lines;
      ASSERT_EQ(ReadAll(path, {.block_bytes = block}, &got_lines), rows)
          << "round " << round << " block " << block << "\n"
          << text;
      ASSERT_EQ(got_lines, lines) << "round " << round << " block " << block;
      ASSERT_EQ(ReadAll(zpath, {.block_bytes = block}), rows) << "round " << round;
    }
  }
}

TEST_F(CsvReaderTest, LongRowGrowsTheBuffer) {
  const std::string big(100000, 'z');
  const Rows rows =
      ReadAll(WriteFile("big.csv", "a,b\n1," + big + "\n\"" + big + "\",2\n"), {.block_bytes = 16});
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[1][1], big);
  EXPECT_EQ(rows[2][0], big);
}

TEST_F(CsvReaderTest, StdinIsReadForDash) {
  const std::string path = WriteFile("stdin.csv", "x,y\n1,2\n3,4\n");
  const int saved = dup(STDIN_FILENO);
  ASSERT_GE(saved, 0);
  const int fd = open(path.c_str(), O_RDONLY);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(dup2(fd, STDIN_FILENO), STDIN_FILENO);
  close(fd);
  std::vector<std::string> seen;
  std::string name;
  {
    auto reader = CsvReader::Open("-");
    if (reader.ok()) {
      name = (*reader)->name();
      while (true) {
        auto next = (*reader)->Next();
        if (!next.ok() || !*next) break;
        seen.emplace_back((*reader)->field(1));
      }
    }
  }
  dup2(saved, STDIN_FILENO);
  close(saved);
  EXPECT_EQ(name, "<stdin>");
  EXPECT_EQ(seen, (std::vector<std::string>{"2", "4"}));
}

TEST_F(CsvReaderTest, InputStreamReadsFullBlocksUntilEof) {
  const std::string text(10000, 'q');
  for (const std::string& path : {WriteFile("s.txt", text), WriteFile("s.zst", Compress(text))}) {
    auto stream = InputStream::Open(path, /*block_bytes=*/3);
    ASSERT_TRUE(stream.ok());
    std::string out;
    char buf[4096];
    size_t n = 0;
    do {
      ASSERT_TRUE((*stream)->Read(buf, sizeof(buf), &n).ok());
      if (n > 0 && n < sizeof(buf)) {
        EXPECT_EQ(out.size() + n, text.size());  // short only at end of input
      }
      out.append(buf, n);
    } while (n == sizeof(buf));
    EXPECT_EQ(out, text);
    ASSERT_TRUE((*stream)->Read(buf, sizeof(buf), &n).ok());
    EXPECT_EQ(n, 0u);
  }
}

}  // namespace
}  // namespace cowtree::tools
