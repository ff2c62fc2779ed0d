#include "persistence/status.h"

#include <cerrno>
#include <cstring>

namespace cowtree {

Status Status::IOError(std::string msg, int errno_value) {
  if (errno_value == ENOSPC || errno_value == EDQUOT) {
    return Status(StatusCode::kNoSpace, std::move(msg));
  }
  return Status(StatusCode::kIOError, std::move(msg));
}

Status Status::FromErrno(std::string context, int errno_value) {
  context += ": ";
  context += std::strerror(errno_value);
  return IOError(std::move(context), errno_value);
}

std::string Status::ToString() const {
  const char* name = "OK";
  switch (code_) {
    case StatusCode::kOk:
      return "OK";
    case StatusCode::kNotFound:
      name = "NotFound";
      break;
    case StatusCode::kCorruption:
      name = "Corruption";
      break;
    case StatusCode::kIOError:
      name = "IOError";
      break;
    case StatusCode::kNoSpace:
      name = "NoSpace";
      break;
    case StatusCode::kInvalidArgument:
      name = "InvalidArgument";
      break;
    case StatusCode::kBusy:
      name = "Busy";
      break;
    case StatusCode::kNotSupported:
      name = "NotSupported";
      break;
    case StatusCode::kPoisoned:
      name = "Poisoned";
      break;
  }
  return std::string(name) + ": " + message_;
}

Status Status::WithContext(std::string_view context) const {
  if (ok()) return *this;
  return Status(code_, std::string(context) + ": " + message_);
}

}  // namespace cowtree
