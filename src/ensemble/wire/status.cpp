#include "ensemble/wire/status.hpp"

namespace ensemble::wire {

std::string Status::to_string() const {
  const char* name = "ok";
  switch (code_) {
    case StatusCode::kOk: return "ok";
    case StatusCode::kMalformed: name = "malformed"; break;
    case StatusCode::kBadSignature: name = "bad signature"; break;
    case StatusCode::kReplayed: name = "replayed"; break;
    case StatusCode::kTooLarge: name = "too large"; break;
    case StatusCode::kInvalidArgument: name = "invalid argument"; break;
    case StatusCode::kIoError: name = "I/O error"; break;
    case StatusCode::kNotFound: name = "not found"; break;
    case StatusCode::kInterrupted: name = "interrupted"; break;
    case StatusCode::kUnavailable: name = "unavailable"; break;
  }
  return std::string(name) + ": " + message_;
}

}  // namespace ensemble::wire
