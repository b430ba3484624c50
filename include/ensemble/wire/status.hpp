// Expected failures as values (leveldb style): a Status says what went wrong,
// a Result<T> carries either a value or a Status. Exceptions are reserved for
// bugs and construction failures.
#pragma once

#include <string>
#include <utility>
#include <variant>

namespace ensemble::wire {

enum class StatusCode {
  kOk,
  kMalformed,     // frames or JSON that do not form a message
  kBadSignature,  // HMAC did not verify
  kReplayed,      // a signature seen before
  kTooLarge,      // over the configured message size limit
  kInvalidArgument,
  kIoError,
  kNotFound,
  kInterrupted,  // a blocking wait was interrupted by a signal
  kUnavailable,  // the operation is not possible in this state
};

class Status {
 public:
  Status() = default;
  static Status Ok() { return {}; }
  static Status Error(StatusCode code, std::string message) { return Status(code, std::move(message)); }

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }
  std::string to_string() const;

 private:
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

template <typename T>
class Result {
 public:
  Result(T value) : data_(std::move(value)) {}         // NOLINT(google-explicit-constructor)
  Result(Status status) : data_(std::move(status)) {}  // NOLINT(google-explicit-constructor)

  bool ok() const { return std::holds_alternative<T>(data_); }
  const Status& status() const { return std::get<Status>(data_); }
  T& value() & { return std::get<T>(data_); }
  const T& value() const& { return std::get<T>(data_); }
  T&& value() && { return std::get<T>(std::move(data_)); }

 private:
  std::variant<T, Status> data_;
};

}  // namespace ensemble::wire
