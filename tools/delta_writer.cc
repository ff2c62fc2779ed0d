#include "tools/delta_writer.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <utility>

#include "tools/csv_reader.h"

namespace cowtree::tools {
namespace {

Status FileError(const std::string& path, const std::string& what, int err) {
  return Status::FromErrno("--emit-deltas " + path + ": " + what, err);
}

}  // namespace

std::string RowKey(const QueryRow& row) {
  std::string key = CsvGroupField(row);
  key += ',';
  key += std::to_string(row.n);
  for (const std::string& v : row.values) {
    key += ',';
    key += v;
  }
  return key;
}

DeltaWriter::DeltaWriter(std::string path, DeltaSpec spec, bool sync_each_commit)
    : path_(std::move(path)), spec_(std::move(spec)), sync_each_commit_(sync_each_commit) {}

DeltaWriter::~DeltaWriter() {
  if (owned_ && file_ != nullptr) std::fclose(file_);
}

Result<std::unique_ptr<DeltaWriter>> DeltaWriter::Open(const std::string& path,
                                                       const DeltaSpec& spec, bool resume,
                                                       bool sync_each_commit,
                                                       const Snapshot& current) {
  std::unique_ptr<DeltaWriter> w(new DeltaWriter(path, spec, sync_each_commit && path != "-"));
  if (path == "-") {
    if (resume) {
      return Status::InvalidArgument(
          "--emit-deltas -: --resume needs the deltas of the earlier run to reconcile them with "
          "the store; stdout cannot be read back (write the deltas to a FILE)");
    }
    w->file_ = stdout;
  } else {
    struct stat st;
    const bool existing = resume && ::stat(path.c_str(), &st) == 0 && st.st_size > 0;
    if (existing) {
      COWTREE_RETURN_IF_ERROR(w->TruncateTornTail());
      COWTREE_RETURN_IF_ERROR(w->Reconcile(current));
      return w;
    }
    w->file_ = std::fopen(path.c_str(), "w");
    if (w->file_ == nullptr) return FileError(path, "cannot create", errno);
    w->owned_ = true;
  }
  COWTREE_RETURN_IF_ERROR(w->WriteHeader());
  COWTREE_ASSIGN_OR_RETURN(
      std::vector<QueryRow> rows,
      ComputePercentiles(current, spec.percentiles, spec.disc, spec.descending, std::nullopt));
  for (QueryRow& row : rows) {
    COWTREE_RETURN_IF_ERROR(w->WriteRow(row, +1));
    w->rows_.emplace(row.group, std::move(row));
  }
  COWTREE_RETURN_IF_ERROR(w->Flush());
  return w;
}

Status DeltaWriter::WriteHeader() {
  std::string header = "group,weight,n";
  for (const PercentileSpec& p : spec_.percentiles) header += ',' + p.text;
  header += '\n';
  if (std::fwrite(header.data(), 1, header.size(), file_) != header.size()) {
    return FileError(path_, "write failed", errno);
  }
  return Status::OK();
}

Status DeltaWriter::WriteRow(const QueryRow& row, int64_t weight) {
  std::string line = CsvGroupField(row);
  line += ',';
  line += std::to_string(weight);
  line += ',';
  line += std::to_string(row.n);
  for (const std::string& v : row.values) {
    line += ',';
    line += v;
  }
  line += '\n';
  if (std::fwrite(line.data(), 1, line.size(), file_) != line.size()) {
    return FileError(path_, "write failed", errno);
  }
  ++lines_written_;
  return Status::OK();
}

Status DeltaWriter::Flush() {
  if (std::fflush(file_) != 0) return FileError(path_, "write failed", errno);
  if (sync_each_commit_ && ::fdatasync(fileno(file_)) != 0) {
    // A FIFO, a terminal or /dev/null has nothing to make durable (EINVAL): strict mode syncs
    // the deltas of a regular file only.
    const int err = errno;
    struct stat st;
    if (err == EINVAL && ::fstat(fileno(file_), &st) == 0 && !S_ISREG(st.st_mode)) {
      sync_each_commit_ = false;
      return Status::OK();
    }
    return FileError(path_, "fdatasync failed", err);
  }
  return Status::OK();
}

Status DeltaWriter::AfterCommit(const Snapshot& after, const std::vector<std::string>& tree_names) {
  COWTREE_ASSIGN_OR_RETURN(const GroupCounts counts, GroupCounts::Read(after));
  struct Change {
    std::optional<QueryRow> old_row, new_row;
  };
  std::vector<Change> changes;
  for (const std::string& name : tree_names) {
    Result<std::optional<QueryRow>> computed =
        ComputeGroupRow(after, counts, name, spec_.percentiles, spec_.disc, spec_.descending);
    if (!computed.ok() && !computed.status().IsNotFound()) return computed.status();
    std::optional<QueryRow> new_row;
    if (computed.ok()) new_row = std::move(computed).value();
    std::optional<QueryRow> old_row;
    if (auto it = rows_.find(name); it != rows_.end()) old_row = it->second;
    if (old_row == new_row) continue;
    if (new_row.has_value()) {
      rows_[name] = *new_row;
    } else {
      rows_.erase(name);
    }
    changes.push_back({std::move(old_row), std::move(new_row)});
  }
  auto group_of = [](const Change& c) -> const QueryRow& {
    return c.old_row.has_value() ? *c.old_row : *c.new_row;
  };
  std::sort(changes.begin(), changes.end(),
            [&](const Change& a, const Change& b) { return GroupOrder(group_of(a), group_of(b)); });
  for (const Change& c : changes) {
    if (c.old_row.has_value()) COWTREE_RETURN_IF_ERROR(WriteRow(*c.old_row, -1));
    if (c.new_row.has_value()) COWTREE_RETURN_IF_ERROR(WriteRow(*c.new_row, +1));
  }
  return Flush();
}

// A crash in the middle of a line leaves a torn last line: cut the file after the last '\n'
// that ends a line. A quoted group name may hold '\n': a line ends only at a '\n' outside
// quotes. The writer quotes every field that holds '"' (CsvGroupField), so the quote state is
// the parity of the '"' bytes before a position ("" inside a quoted field toggles twice).
Status DeltaWriter::TruncateTornTail() {
  const int fd = ::open(path_.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) return FileError(path_, "cannot open", errno);
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    const int err = errno;
    ::close(fd);
    return FileError(path_, "cannot stat", err);
  }
  off_t keep = 0;  // just after the last line end outside quotes
  bool quoted = false;
  char buf[1 << 16];
  for (off_t at = 0; at < st.st_size;) {
    const ssize_t got = ::pread(fd, buf, sizeof(buf), at);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) {
      const int err = got < 0 ? errno : EIO;
      ::close(fd);
      return FileError(path_, got < 0 ? "read failed" : "shorter than its size", err);
    }
    for (ssize_t i = 0; i < got; ++i) {
      if (buf[i] == '"') quoted = !quoted;
      if (buf[i] == '\n' && !quoted) keep = at + i + 1;
    }
    at += got;
  }
  Status result;
  if (keep != st.st_size && ::ftruncate(fd, keep) != 0) {
    result = FileError(path_, "cannot truncate its torn last line", errno);
  }
  ::close(fd);
  return result;
}

// Sums the weights of the file's lines by RowKey; checks the header against the spec.
Result<std::map<std::string, int64_t>> DeltaWriter::SumFile() {
  COWTREE_ASSIGN_OR_RETURN(std::unique_ptr<CsvReader> csv, CsvReader::Open(path_));
  std::vector<std::string> expected = {"group", "weight", "n"};
  for (const PercentileSpec& p : spec_.percentiles) expected.push_back(p.text);
  if (csv->header() != expected) {
    return Status::Corruption("--emit-deltas " + path_ +
                              ": its header is not 'group,weight,n,<the --percentile list>' of "
                              "this run (not the deltas of this ingest? nothing was changed)");
  }
  std::map<std::string, int64_t> sums;
  while (true) {
    COWTREE_ASSIGN_OR_RETURN(const bool more, csv->Next());
    if (!more) break;
    QueryRow row;
    const std::string_view group = csv->field(0);
    row.group = std::string(GroupTreeOfField(group, csv->field_quoted(0)));
    row.null_group = IsNullGroupTree(row.group);
    row.empty_group = IsEmptyGroupTree(row.group);
    int64_t weight = 0;
    COWTREE_RETURN_IF_ERROR(csv->FieldInt64(1, &weight));
    // n is a uint64 (a group's N may pass 2^63 with weights): not FieldInt64.
    const std::string_view n_text = csv->field(2);
    const auto [end, ec] = std::from_chars(n_text.data(), n_text.data() + n_text.size(), row.n);
    if (ec != std::errc() || end != n_text.data() + n_text.size()) {
      return Status::Corruption("--emit-deltas " + path_ + ":" +
                                std::to_string(csv->line_number()) + ": n (field 3) is '" +
                                std::string(n_text) +
                                "', expected a whole number from 0 to 2^64-1 (not the deltas of "
                                "this ingest? nothing was changed)");
    }
    for (size_t i = 3; i < csv->field_count(); ++i) row.values.emplace_back(csv->field(i));
    sums[RowKey(row)] += weight;
  }
  return sums;
}

// Appends the difference between the store's table and the sum of the file.
Status DeltaWriter::Reconcile(const Snapshot& current) {
  using Sums = std::map<std::string, int64_t>;
  COWTREE_ASSIGN_OR_RETURN(Sums sums, SumFile());
  COWTREE_ASSIGN_OR_RETURN(
      std::vector<QueryRow> rows,
      ComputePercentiles(current, spec_.percentiles, spec_.disc, spec_.descending, std::nullopt));
  file_ = std::fopen(path_.c_str(), "a");
  if (file_ == nullptr) return FileError(path_, "cannot open for appending", errno);
  owned_ = true;
  // Lines of the file that are not the store's rows: retract what remains of them. Their
  // text is the key with the weight put back after the group field.
  std::map<std::string, int64_t> wanted;
  for (const QueryRow& row : rows) wanted[RowKey(row)] = 1;
  for (const auto& [key, sum] : sums) {
    const auto it = wanted.find(key);
    const int64_t diff = (it == wanted.end() ? 0 : 1) - sum;
    if (it != wanted.end()) wanted.erase(it);
    if (diff == 0) continue;
    // The key is "GROUP,N,V..."; GROUP may be quoted and contain commas: split after it.
    size_t cut = 0;
    if (!key.empty() && key[0] == '"') {
      cut = 1;
      while (cut < key.size() &&
             !(key[cut] == '"' && (cut + 1 == key.size() || key[cut + 1] != '"'))) {
        cut += key[cut] == '"' ? 2 : 1;
      }
      ++cut;
    } else {
      cut = key.find(',');
    }
    const std::string line =
        key.substr(0, cut) + ',' + std::to_string(diff) + key.substr(cut) + '\n';
    if (std::fwrite(line.data(), 1, line.size(), file_) != line.size()) {
      return FileError(path_, "write failed", errno);
    }
    ++lines_written_;
  }
  for (QueryRow& row : rows) {
    if (wanted.count(RowKey(row)) != 0) COWTREE_RETURN_IF_ERROR(WriteRow(row, +1));
    rows_.emplace(row.group, std::move(row));
  }
  return Flush();
}

}  // namespace cowtree::tools
