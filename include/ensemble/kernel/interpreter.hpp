// The language backend a kernel serves, in the style of xeus's interpreter:
// the kernel does the protocol bookkeeping (execution count, execute_input,
// status, reply envelopes, history); the interpreter does the language work.
//
// Threading: every method except interrupt-related ones is called on the
// kernel's main thread, one at a time. The interpreter calls back into the
// KernelContext it was given, from the main thread or (for streams and
// publishing) from any thread of its own.
#pragma once

#include <cstdint>

#include <optional>
#include <string>
#include <vector>

#include "ensemble/wire/message.hpp"
#include "ensemble/wire/status.hpp"

namespace ensemble::kernel {

using wire::Json;

// What a running execution may do to the outside world. Implemented by the
// kernel; thread-safe unless noted.
class KernelContext {
 public:
  virtual ~KernelContext() = default;
  // Publishes on iopub with the current request as parent. Any pending
  // stream text is published first, so output keeps its order.
  virtual void publish(const std::string& msg_type, Json content, Json metadata = Json::object(),
                       std::vector<std::string> buffers = {}) = 0;
  // Appends to the named stream ("stdout"/"stderr"); batched, flushed on
  // size or after a few milliseconds.
  virtual void write_stream(const std::string& name, std::string_view text) = 0;
  virtual void flush_streams() = 0;
  // Asks the client that sent the current request for a line of input.
  // Main thread only; blocks. Errors: kUnavailable when the request did not
  // allow stdin, kInterrupted when a signal arrived while waiting.
  virtual wire::Result<std::string> request_input(const std::string& prompt, bool password) = 0;
  // The header of the request being handled (an empty object between requests).
  virtual Json current_parent_header() const = 0;
  // The execution count of the current (or last) execute request.
  virtual int execution_count() const = 0;
  // The kernel's history store, for the language's own history commands (IPython's
  // %history): `request` is a history_request's content, the result its reply's
  // content; history_session() is the store's number for this session.
  virtual Json query_history(const Json& request) = 0;
  virtual int history_session() const = 0;
  // The debugger's seam (debug_channel.hpp), in a kernel that has one: the descriptor
  // its thread reads debug requests from, which the caller then owns (-1: no debugger,
  // or already taken), the reply to one (false: no such request waiting), and a DAP
  // event for the frontends. Thread-safe, but the descriptor is handed over once.
  virtual int debug_requests_fd() { return -1; }
  virtual bool send_debug_reply(std::uint64_t /*token*/, Json /*content*/) { return false; }
  virtual void publish_debug_event(Json /*content*/) {}
};

struct ExecuteRequest {
  std::string code;
  bool silent = false;
  bool store_history = true;
  bool allow_stdin = true;
  Json user_expressions = Json::object();
  int execution_count = 0;  // the count this execution runs as (In[n])
};

struct ExecuteOutcome {
  enum class Status { kOk, kError, kAborted } status = Status::kOk;
  std::string ename;
  std::string evalue;
  std::vector<std::string> traceback;
  // The interpreter showed the error its own way (a magic's UsageError, printed to
  // stderr, as IPython does): the reply reports it, but no `error` message is published.
  bool error_shown = false;
  Json user_expressions = Json::object();
  Json payload = Json::array();
  // text/plain of the displayed result, for the output history (optional).
  std::optional<std::string> output_text;
};

class Interpreter {
 public:
  virtual ~Interpreter() = default;

  // Called once, on the main thread, before any other method.
  virtual void attach(KernelContext& context) = 0;
  // Called once, on the main thread, as the kernel goes: once it returns, nothing calls
  // the KernelContext any more, from any thread (the language's own threads included).
  virtual void detach() {}
  // kernel_info_reply fields the language supplies: language_info, banner,
  // help_links, implementation, implementation_version.
  virtual Json kernel_info() = 0;
  virtual ExecuteOutcome execute(const ExecuteRequest& request) = 0;
  // Reply contents (without status on success; the kernel adds it).
  virtual Json complete(const std::string& code, int cursor_pos) = 0;
  virtual Json inspect(const std::string& code, int cursor_pos, int detail_level) = 0;
  virtual Json is_complete(const std::string& code) = 0;
  virtual Json comm_info(const std::optional<std::string>& target_name) = 0;
  // comm_open / comm_msg / comm_close from a client.
  virtual void handle_comm(const wire::Message& message) = 0;
  // Drops an interrupt that arrived while nothing was executing, so it does
  // not break the next cell. Main thread.
  virtual void discard_pending_interrupt() = 0;
  // Runs exit handlers before the kernel process ends. Main thread.
  virtual void shutdown(bool restart) = 0;
};

}  // namespace ensemble::kernel
