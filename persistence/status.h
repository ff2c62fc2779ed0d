// Status and Result<T>: errors are values, never exceptions across the API.
//
// Contract
// - Status::ok() is true for success; otherwise code() says what kind of failure it was and
//   message() is a one-line, human-readable description that names the file, offset and what
//   was expected where that applies.
// - IOError (the operating system refused an operation) is distinct from Corruption (bytes were
//   read but are not what a correct store contains). NoSpace is the IOError of ENOSPC, kept
//   separate because callers may retry it once space is freed.
// - Thread-safety: values; copying is safe from any thread.
#pragma once

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace cowtree {

enum class StatusCode : uint8_t {
  kOk = 0,
  kNotFound = 1,
  kCorruption = 2,
  kIOError = 3,
  kNoSpace = 4,
  kInvalidArgument = 5,
  kBusy = 6,          // e.g. another process holds the store's LOCK file
  kNotSupported = 7,  // e.g. io_uring refused by the kernel / seccomp
  kPoisoned = 8,      // the runtime refuses writes after a failed fdatasync until reopen
};

class [[nodiscard]] Status {
 public:
  Status() = default;
  static Status OK() { return Status(); }
  static Status NotFound(std::string msg) { return Status(StatusCode::kNotFound, std::move(msg)); }
  static Status Corruption(std::string msg) {
    return Status(StatusCode::kCorruption, std::move(msg));
  }
  // errno_value: the errno reported by the OS, 0 if none.
  static Status IOError(std::string msg, int errno_value = 0);
  static Status NoSpace(std::string msg) { return Status(StatusCode::kNoSpace, std::move(msg)); }
  static Status InvalidArgument(std::string msg) {
    return Status(StatusCode::kInvalidArgument, std::move(msg));
  }
  static Status Busy(std::string msg) { return Status(StatusCode::kBusy, std::move(msg)); }
  static Status NotSupported(std::string msg) {
    return Status(StatusCode::kNotSupported, std::move(msg));
  }
  static Status Poisoned(std::string msg) { return Status(StatusCode::kPoisoned, std::move(msg)); }
  // Builds IOError or NoSpace from an errno value, with strerror appended to the message.
  static Status FromErrno(std::string context, int errno_value);

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }
  bool IsNotFound() const { return code_ == StatusCode::kNotFound; }
  bool IsCorruption() const { return code_ == StatusCode::kCorruption; }
  bool IsIOError() const { return code_ == StatusCode::kIOError; }
  bool IsNoSpace() const { return code_ == StatusCode::kNoSpace; }
  bool IsInvalidArgument() const { return code_ == StatusCode::kInvalidArgument; }
  bool IsBusy() const { return code_ == StatusCode::kBusy; }
  bool IsPoisoned() const { return code_ == StatusCode::kPoisoned; }
  bool IsNotSupported() const { return code_ == StatusCode::kNotSupported; }

  // "Corruption: <message>" etc.
  std::string ToString() const;
  // Same code, message prefixed with "context: ".
  Status WithContext(std::string_view context) const;

 private:
  Status(StatusCode code, std::string msg) : code_(code), message_(std::move(msg)) {}
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

// A value or an error. Accessing value() of an error Result is a programming error: it prints
// the status (Status::ToString()) to stderr and aborts.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : value_(std::move(value)) {}  // NOLINT: implicit by design
  Result(Status status) : status_(std::move(status)) {
    if (status_.ok()) status_ = Status::InvalidArgument("Result constructed from OK status");
  }
  bool ok() const { return status_.ok(); }
  const Status& status() const { return status_; }
  T& value() & { return checked(); }
  const T& value() const& { return const_cast<Result*>(this)->checked(); }
  T&& value() && { return std::move(checked()); }
  T* operator->() { return &checked(); }
  T& operator*() { return checked(); }

 private:
  T& checked() {
    if (!value_.has_value()) {
      std::fprintf(stderr, "cowtree: Result::value() called on an error: %s\n",
                   status_.ToString().c_str());
      std::abort();
    }
    return *value_;
  }
  Status status_;
  std::optional<T> value_;
};

}  // namespace cowtree

// Propagate a non-OK Status from the enclosing function.
#define COWTREE_RETURN_IF_ERROR(expr)          \
  do {                                         \
    ::cowtree::Status _cowtree_st = (expr);    \
    if (!_cowtree_st.ok()) return _cowtree_st; \
  } while (0)

#define COWTREE_CONCAT_INNER(a, b) a##b
#define COWTREE_CONCAT(a, b) COWTREE_CONCAT_INNER(a, b)
// COWTREE_ASSIGN_OR_RETURN(auto x, ExprReturningResult());
#define COWTREE_ASSIGN_OR_RETURN(lhs, expr)                  \
  auto COWTREE_CONCAT(_cowtree_res_, __LINE__) = (expr);     \
  if (!COWTREE_CONCAT(_cowtree_res_, __LINE__).ok())         \
    return COWTREE_CONCAT(_cowtree_res_, __LINE__).status(); \
  lhs = std::move(COWTREE_CONCAT(_cowtree_res_, __LINE__)).value()
