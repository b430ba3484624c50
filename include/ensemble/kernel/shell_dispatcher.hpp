// The main-thread half of a kernel: takes shell requests in arrival order,
// wraps each in busy/idle, runs its handler and sends exactly one reply, even
// when the handler throws. Also the KernelContext the interpreter calls back.
//
// Threading: run()/dispatch() on the main thread only. The KernelContext
// methods marked thread-safe there may be called from any thread.
#pragma once

#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "ensemble/kernel/channels.hpp"
#include "ensemble/kernel/debug_channel.hpp"
#include "ensemble/kernel/history_store.hpp"
#include "ensemble/kernel/interpreter.hpp"
#include "ensemble/kernel/session.hpp"

namespace ensemble::kernel {

// A refusal decided before a handler runs (collaboration roles plug in here):
// the error reply's ename and evalue.
struct Refusal {
  std::string ename;
  std::string evalue;
};
using RequestGate = std::function<std::optional<Refusal>(const wire::Message& request)>;

class ShellDispatcher final : public KernelContext {
 public:
  // `debugger`, if any, outlives the dispatcher; kernel_info says "debugger": true when
  // there is one and the interpreter can debug.
  ShellDispatcher(Interpreter& interpreter, Inbox& inbox, Outbox& outbox, HistoryStore& history,
                  const Session& session, DebugChannel* debugger = nullptr);

  // The full kernel_info_reply content (protocol fields added to the
  // interpreter's). Computed once.
  const Json& kernel_info() const { return kernel_info_; }
  void set_gate(RequestGate gate) { gate_ = std::move(gate); }
  // Serves one more shell request type (engines add apply_request this way),
  // or replaces a built-in one. The handler returns the reply content; the
  // dispatcher does busy/idle and the reply, and turns a throw into an error
  // reply. Main thread, before run().
  // A handler may move the request's buffers out (an engine keeps pushed
  // arrays); a large request's buffers are in `shared_buffers`, not copied.
  using RequestHandler = std::function<Json(wire::Message& request)>;
  void add_handler(std::string msg_type, RequestHandler handler);
  // For a handler whose reply carries metadata or buffers (an engine's
  // apply_reply): sends it, and the handler then returns a null Json. Main thread.
  void send_reply(const wire::Message& request, Json content, Json metadata, std::vector<std::string> buffers,
                  std::vector<wire::SharedBuffer> shared = {});
  // Queued requests with these msg_ids will be answered `aborted` instead of
  // running (control's abort_request). Thread-safe.
  void abort_requests(const std::vector<std::string>& msg_ids);

  // Serves until a shutdown arrives; returns whether a restart was asked for.
  bool run();
  // Handles one shell request (or comm message) completely.
  void dispatch(wire::Message& request);
  void dispatch(wire::Message&& request) { dispatch(request); }

  // KernelContext
  void publish(const std::string& msg_type, Json content, Json metadata, std::vector<std::string> buffers) override;
  void write_stream(const std::string& name, std::string_view text) override;
  void flush_streams() override;
  wire::Result<std::string> request_input(const std::string& prompt, bool password) override;
  Json current_parent_header() const override;
  int execution_count() const override { return execution_count_; }
  Json query_history(const Json& request) override;
  // Called after a cell runs and before its reply, and before a reply a handler sends
  // itself: hands over output still on its way (OutputCapture::drain). Main thread; set
  // before or after run(), not during it.
  void set_output_drain(std::function<void()> drain) { output_drain_ = std::move(drain); }
  int history_session() const override;
  int debug_requests_fd() override { return debugger_ != nullptr ? debugger_->take_request_fd() : -1; }
  bool send_debug_reply(std::uint64_t token, Json content) override {
    return debugger_ != nullptr && debugger_->reply(token, std::move(content));
  }
  void publish_debug_event(Json content) override {
    if (debugger_ != nullptr) debugger_->publish_event(std::move(content));
  }

 private:

  Json handle_execute(const wire::Message& request);
  Json handle_kernel_info(const wire::Message& request);
  Json handle_complete(const wire::Message& request);
  Json handle_inspect(const wire::Message& request);
  Json handle_is_complete(const wire::Message& request);
  Json handle_history(const wire::Message& request);
  Json handle_comm_info(const wire::Message& request);
  Json handle_shutdown(const wire::Message& request);

  void publish_status(const char* state, const Json& parent, std::shared_ptr<const std::string> parent_text = nullptr);
  // A reply to `request`: the current request's reuses its header, made once.
  wire::Message reply_to(const wire::Message& request, Json content) const;
  void send_reply(const wire::Message& request, Json content);
  void abort_queued();
  std::optional<Incoming> next_incoming();
  void set_current(const wire::Message* request);

  Interpreter& interpreter_;
  Inbox& inbox_;
  Outbox& outbox_;
  HistoryStore& history_;
  const Session& session_;
  DebugChannel* debugger_;
  Json kernel_info_;
  RequestGate gate_;
  std::unordered_map<std::string, RequestHandler> handlers_;
  std::deque<Incoming> deferred_;  // taken from the inbox while waiting for input
  int execution_count_ = 0;
  std::function<void()> output_drain_;
  std::optional<bool> shutdown_restart_;
  bool take_aborted(const std::string& msg_id);

  std::mutex aborted_mutex_;
  std::unordered_set<std::string> aborted_;  // GUARDED_BY(aborted_mutex_)

  mutable std::mutex current_mutex_;
  ParentPtr current_parent_;                        // GUARDED_BY(current_mutex_)
  const wire::Message* current_request_ = nullptr;  // main thread only
  // The current request's header as text, for each message it parents.
  std::shared_ptr<const std::string> current_parent_text_;  // main thread only
  bool allow_stdin_ = false;                        // main thread only
};

}  // namespace ensemble::kernel
