// Status and Result<T>: how set-up code (EAL, ports, option parsing) reports failure.
// Bring-up errors are expected at run time (a missing vdev, a bad MTU), so they are
// values with a readable message rather than exceptions or aborts.
#pragma once

#include <optional>
#include <string>
#include <utility>

namespace shardtcp {

class Status {
 public:
  static Status ok() { return Status(); }
  static Status error(std::string message) { return Status(std::move(message)); }

  bool is_ok() const { return !failed_; }
  explicit operator bool() const { return !failed_; }
  const std::string& message() const { return message_; }

 private:
  Status() = default;
  explicit Status(std::string m) : failed_(true), message_(std::move(m)) {}
  bool failed_ = false;
  std::string message_;
};

// A value or an error message. Move-only values (unique_ptr) are fine.
template <typename T>
class Result {
 public:
  Result(T value) : value_(std::move(value)) {}       // NOLINT: implicit on purpose
  Result(Status error) : error_(std::move(error)) {}  // NOLINT: must be an error Status

  static Result failure(std::string message) { return Result(Status::error(std::move(message))); }

  bool is_ok() const { return value_.has_value(); }
  explicit operator bool() const { return value_.has_value(); }
  T& value() & { return *value_; }
  const T& value() const& { return *value_; }
  T&& value() && { return std::move(*value_); }
  T* operator->() { return &*value_; }
  const T* operator->() const { return &*value_; }
  T& operator*() { return *value_; }
  // The message of a failed result (empty when ok).
  const std::string& error() const { return error_.message(); }
  Status status() const { return value_ ? Status::ok() : error_; }

 private:
  std::optional<T> value_;
  Status error_ = Status::ok();
};

}  // namespace shardtcp
