#include "ensemble/kernel/kernel.hpp"

#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <condition_variable>
#include <mutex>

#include <spdlog/spdlog.h>

#include <zmq.hpp>

#include "ensemble/kernel/output_capture.hpp"
#include "ensemble/kernel/roster.hpp"
#include "ensemble/wire/free_memory.hpp"
#include "io_loop.hpp"
#include "queues.hpp"
#include "zap_handler.hpp"

namespace ensemble::kernel {

namespace {
// Blocks SIGINT on the calling thread for the scope's lifetime, so threads
// started inside (ours and ZeroMQ's) inherit the blocked mask.
class SigintBlocked {
 public:
  SigintBlocked() {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, &previous_);
  }
  ~SigintBlocked() { pthread_sigmask(SIG_SETMASK, &previous_, nullptr); }

 private:
  sigset_t previous_;
};
}  // namespace

struct Kernel::Impl {
  KernelOptions options;
  Interpreter& interpreter;
  pthread_t main_thread = pthread_self();
  Session session;
  wire::Signer signer;
  QueueInbox inbox;
  QueueOutbox outbox;
  HistoryStore history;
  zmq::context_t context;
  std::unique_ptr<IoLoop> io;
  std::shared_ptr<Uplink> uplink;
  std::unique_ptr<Heartbeat> heartbeat;
  std::unique_ptr<DebugChannel> debugger;  // before the dispatcher, which the interpreter attaches to
  std::unique_ptr<ShellDispatcher> dispatcher;
  std::unique_ptr<RosterFile> roster;      // only when encrypted
  std::unique_ptr<ZapHandler> zap;
  std::mutex shutdown_mutex;
  std::jthread shutdown_watchdog;  // GUARDED_BY(shutdown_mutex)

  Impl(KernelOptions opts, Interpreter& interp)
      : options(std::move(opts)),
        interpreter(interp),
        signer(options.connection.key),
        outbox(options.stream_flush_bytes, options.stream_flush_delay, options.stream_burst_delay),
        history(options.history_path) {}
};

Kernel::Kernel(KernelOptions options, Interpreter& interpreter)
    : impl_(std::make_unique<Impl>(std::move(options), interpreter)) {
  if (impl_->options.debugger) impl_->debugger = std::make_unique<DebugChannel>(impl_->session, impl_->outbox);
  impl_->dispatcher = std::make_unique<ShellDispatcher>(interpreter, impl_->inbox, impl_->outbox, impl_->history,
                                                        impl_->session, impl_->debugger.get());
}

Kernel::~Kernel() {
  // first: the language's threads may still call back into what goes below
  impl_->interpreter.detach();
  if (impl_->io) impl_->io->stop();
  impl_->io.reset();
  impl_->context.shutdown();
  impl_->heartbeat.reset();
  impl_->zap.reset();
  impl_->context.close();
}

void Kernel::begin_shutdown(bool restart) {
  Impl& k = *impl_;
  std::lock_guard lock(k.shutdown_mutex);
  if (k.shutdown_watchdog.joinable()) return;
  k.inbox.push(Incoming{Incoming::Kind::kShutdown, {}, restart});
  // A cell that never returns must not keep the process alive.
  k.shutdown_watchdog = std::jthread([grace = k.options.shutdown_grace,
                                      before_exit = k.options.before_forced_exit](std::stop_token stop) {
    std::mutex mutex;
    std::condition_variable_any never;
    std::unique_lock wait_lock(mutex);
    if (!never.wait_for(wait_lock, stop, grace, [] { return false; }) && !stop.stop_requested()) {
      spdlog::warn("main thread still busy after shutdown; exiting");
      if (before_exit) before_exit();
      ::_exit(0);
    }
  });
}

void Kernel::request_shutdown() {
  begin_shutdown(false);
}

void Kernel::set_uplink(std::shared_ptr<Uplink> uplink) {
  impl_->uplink = std::move(uplink);
}

void Kernel::add_handler(std::string msg_type, ShellDispatcher::RequestHandler handler) {
  impl_->dispatcher->add_handler(std::move(msg_type), std::move(handler));
}

void Kernel::send_reply(const wire::Message& request, wire::Json content, wire::Json metadata,
                        std::vector<std::string> buffers, std::vector<wire::SharedBuffer> shared) {
  impl_->dispatcher->send_reply(request, std::move(content), std::move(metadata), std::move(buffers),
                                std::move(shared));
}

const std::string& Kernel::session_id() const {
  return impl_->session.id();
}

void Kernel::set_gate(RequestGate gate) {
  impl_->dispatcher->set_gate(std::move(gate));
}

wire::Result<wire::ConnectionInfo> Kernel::bind() {
  SigintBlocked blocked;
  Impl& k = *impl_;
  wire::ConnectionInfo info = k.options.connection;
  k.io = std::make_unique<IoLoop>(k.context, k.signer, wire::DecodeLimits{k.options.max_message_bytes}, k.session,
                                  k.inbox, k.outbox);
  k.heartbeat = std::make_unique<Heartbeat>(k.context);
  if (info.encrypted()) {
    Member owner{k.options.owner_name, Role::kOwner, info.curve_publickey};
    k.roster = std::make_unique<RosterFile>(k.options.roster_path, owner);
    k.zap = std::make_unique<ZapHandler>(k.context, *k.roster);
    k.zap->start();
    k.io->enable_curve(info.curve_secretkey, *k.roster);
    k.heartbeat->enable_curve(info.curve_secretkey);
    k.dispatcher->set_gate([](const wire::Message& request) -> std::optional<Refusal> {
      auto role = role_from_string(request.role);
      if (!role || permits(*role, "shell", request.header.msg_type)) return std::nullopt;
      return Refusal{"PermissionError", "the " + request.role + " role may not send " + request.header.msg_type};
    });
  }
  if (auto status = k.io->bind(info); !status.ok()) return status;
  if (auto status = k.heartbeat->bind(info); !status.ok()) return status;
  if (k.uplink) k.io->set_uplink(k.uplink, info);

  IoLoopHooks hooks;
  hooks.interrupt = [main = k.main_thread] { pthread_kill(main, SIGINT); };
  hooks.on_shutdown = [this](bool restart) { begin_shutdown(restart); };
  hooks.abort = [dispatcher = k.dispatcher.get()](const std::vector<std::string>& ids) {
    dispatcher->abort_requests(ids);
  };
  hooks.debugger = k.debugger.get();
  // What starting the interpreter freed (import-time garbage) goes back before the
  // kernel serves: the allocator would otherwise keep it for a while (jemalloc: up to
  // its decay time), counted in the RSS of a kernel that is only waiting.
  wire::release_free_memory();
  k.io->start(k.dispatcher->kernel_info(), std::move(hooks));
  k.heartbeat->start();
  return info;
}

bool Kernel::run() {
  ShellDispatcher& dispatcher = *impl_->dispatcher;
  std::unique_ptr<OutputCapture> capture;
  if (impl_->options.capture_output_fds) {
    SigintBlocked blocked;  // the reader thread must never take a signal meant for the main thread
    capture = OutputCapture::start(
        [&dispatcher](const std::string& name, std::string_view text) { dispatcher.write_stream(name, text); });
  }
  if (capture) dispatcher.set_output_drain([&capture] { capture->drain(); });
  bool restart = dispatcher.run();
  dispatcher.set_output_drain(nullptr);
  capture.reset();
  std::lock_guard lock(impl_->shutdown_mutex);
  if (impl_->shutdown_watchdog.joinable()) {
    impl_->shutdown_watchdog.request_stop();
    impl_->shutdown_watchdog.join();
  }
  return restart;
}

}  // namespace ensemble::kernel
