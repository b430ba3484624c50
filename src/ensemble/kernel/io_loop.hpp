// Private: the kernel's I/O thread. It owns the shell, control, stdin and
// iopub sockets (and an Uplink's socket, if it has one), decodes and verifies
// everything that arrives, answers the control channel itself (so a busy cell
// never blocks it), forwards shell requests and input replies to the main
// thread, and sends whatever the Outbox holds. It never touches Python.
// One exception: the reply to a quiet request from a peer the uplink mirrors
// (a parallel client's direct apply) is sent by the main thread itself, on the
// shell socket under shell_mutex_ (send_reply_now); the I/O thread therefore
// polls the shell socket's ZMQ_FD and uses the socket under that mutex too.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <thread>

#include <zmq.hpp>

#include "ensemble/wire/deferred_wake.hpp"
#include "ensemble/kernel/debug_channel.hpp"
#include "ensemble/kernel/roster.hpp"
#include "ensemble/kernel/session.hpp"
#include "ensemble/kernel/uplink.hpp"
#include "ensemble/wire/codec.hpp"
#include "ensemble/wire/connection_file.hpp"
#include "queues.hpp"

namespace ensemble::kernel {

struct IoLoopHooks {
  std::function<void()> interrupt;                                     // interrupt the main thread (message mode)
  std::function<void(bool restart)> on_shutdown;                       // a shutdown_request was answered
  std::function<void(const std::vector<std::string>& msg_ids)> abort;  // control's abort_request
  // control's debug_request goes here; none: answered as failed (a kernel without a debugger)
  DebugChannel* debugger = nullptr;
};

class IoLoop {
 public:
  // A message with this many bytes of buffers keeps them in ZeroMQ's frames, uncopied.
  static constexpr std::size_t kZeroCopyThreshold = std::size_t{64} * 1024;
  IoLoop(zmq::context_t& context, wire::Signer& signer, wire::DecodeLimits limits, const Session& session,
         QueueInbox& inbox, QueueOutbox& outbox);
  ~IoLoop();

  // Serves every socket with CurveZMQ under `secret_key` and checks each
  // message's sender against `roster` (identity and role stamped on the
  // message, unknown or revoked senders dropped). Before bind().
  void enable_curve(std::string secret_key, RosterFile& roster);
  // Binds shell, control, stdin and iopub; ports given as 0 are chosen and
  // written back into `info`. Errors: kIoError naming the endpoint.
  wire::Status bind(wire::ConnectionInfo& info);
  // Serves requests arriving on `uplink` too (uplink.hpp); `bound` is the
  // kernel's connection, every port chosen. Before start().
  void set_uplink(std::shared_ptr<Uplink> uplink, const wire::ConnectionInfo& bound) {
    uplink_ = std::move(uplink);
    bound_ = bound;
  }
  // Starts the thread. `kernel_info` answers kernel_info_request on control.
  void start(wire::Json kernel_info, IoLoopHooks hooks);
  // Sends what is still queued and stops the thread.
  void stop();

 private:
  void loop(std::stop_token stop);
  // Reads what the shell socket holds, a bounded batch; true if more is waiting.
  bool on_shell();
  bool shell_readable();
  // Main thread, while it waits for work on an engine (DirectSource, in
  // io_loop_uplink.cpp): a direct request read and decoded there, saving the
  // round trip the I/O thread's wake-up and hand-over.
  std::optional<Incoming> read_shell_for_main();
  void main_waiting(bool sleeping);
  // I/O thread, before it hands the main thread a request: the main thread is about to
  // be busy, so this thread watches the shell socket from its next poll on.
  void wake_main_for_a_request();
  // The main thread's shortcut for a reply (QueueOutbox::ReplyShortcut), in io_loop_uplink.cpp.
  QueueOutbox::ShortcutResult send_reply_now(wire::Message& reply);
  void on_control();
  void answer_control(wire::Message request);
  // io_loop_uplink.cpp: what arrives on the uplink, and the tags that send replies back there.
  void open_uplink();
  void on_uplink();
  // `socket`, or the uplink when `frames` answer a request that came from it (its tag is taken off).
  zmq::socket_t& route(zmq::socket_t& socket, wire::Frames& frames);
  // io_loop_iopub.cpp. Sends on iopub if anyone listens there, and a copy on the uplink once
  // it is ready; encoded only if one of them takes it.
  void publish(wire::Message message);
  // The uplink's copy, less the busy and idle of a quiet request (uplink.hpp). `frames`: the
  // message encoded, or nothing yet (then a busy it holds keeps `message`, moved from);
  // `keep`: the caller still sends `frames` (else they are moved from).
  void publish_on_uplink(wire::Message& message, std::optional<wire::Frames>& frames, bool keep);
  // Reads the iopub socket's subscriptions (an XPUB) into iopub_topics_.
  void on_iopub_subscriptions();
  // Whether a subscriber on iopub would get `message`.
  bool iopub_listened(const wire::Message& message) const;
  // Whether an encoded message (identities first) goes to a peer the uplink mirrors.
  bool to_mirrored_peer(const wire::Frames& frames) const;
  // The copy of a reply sent to such a peer: up the uplink after its request's copy, or
  // held with it until the uplink is ready (hold_mirror).
  void mirror_reply(wire::Frames copy, const std::vector<wire::SharedBuffer>& shared, const std::string& msg_type);
  // A copy of a request's `parts` for the uplink, its channel frame first, when
  // its sender is mirrored; else empty. Made whether or not the uplink is ready (hold_mirror).
  std::vector<zmq::message_t> mirror_of(const std::vector<zmq::message_t>& parts) const;
  void send_mirror(std::vector<zmq::message_t>& parts);
  // A request's copy waits up to copy_delay_, or until its reply's copy goes:
  // sent at once, it would cost the request's own round trip a wake-up of
  // ZeroMQ's thread, and most requests are answered well within the delay.
  // Until the uplink is ready (an engine not registered yet, or again), every
  // copy waits, replies' too, up to kMostCopiesHeldUntilReady: a peer that
  // learnt of this kernel from the uplink's peer may reach it first, and the
  // uplink's peer drops what comes before the registration.
  void hold_mirror(std::vector<zmq::message_t> copy);
  void flush_mirrors();
  static constexpr std::size_t kMostCopiesHeldUntilReady = 4096;
  // Marks a reply going up the uplink (or to a mirrored peer) whose quiet request published nothing.
  void note_quiet_reply(wire::Message& reply);
  void on_stdin();
  void send_due(bool everything);
  void send(zmq::socket_t& socket, const wire::Message& message);
  void send(zmq::socket_t& socket, wire::Message&& message);  // moves large buffers, no copy
  // `frames` (encoded), then `shared` as further frames, sent without a copy.
  // `lead`, when given, goes first (the uplink's channel frame).
  void send_frames(zmq::socket_t& socket, wire::Frames frames, const std::vector<wire::SharedBuffer>& shared,
                   const std::string& msg_type, const char* lead = nullptr);
  // `frames`, then `shared` without a copy, `lead` first when given, as ZeroMQ frames.
  std::vector<zmq::message_t> to_parts(wire::Frames frames, const std::vector<wire::SharedBuffer>& shared,
                                       const char* lead = nullptr);
  // Sends one multipart message now, or, while this thread has a SendBatch open, when it closes.
  void send_parts(zmq::socket_t& socket, std::vector<zmq::message_t> parts, const std::string& msg_type);
  // I/O thread: what is sent while one lives goes out, in order, when it ends (the outermost).
  // Sent one by one between the encoding of the next, each message found ZeroMQ's own
  // thread asleep again and woke it (a wake-up of an idle virtual CPU costs some 20 µs of
  // CPU here); sent together, they wake it once.
  class SendBatch {
   public:
    explicit SendBatch(IoLoop& loop);
    ~SendBatch();
    SendBatch(const SendBatch&) = delete;
    SendBatch& operator=(const SendBatch&) = delete;

   private:
    IoLoop& loop_;
    bool nested_;  // another SendBatch of this loop was already open: that one sends
  };
  struct PendingSend {
    zmq::socket_t* socket;
    std::vector<zmq::message_t> parts;
    std::string msg_type;
  };
  std::vector<PendingSend> pending_sends_;  // the I/O thread's, while a SendBatch is open
  static const std::string kRequestCopy;    // send_parts' msg_type for a request's copy
  void publish_status(const char* state, const wire::Json& parent);
  // Stamps the authenticated user on `message`; false if the sender has no access (any more).
  bool authenticate(const std::string& public_key, wire::Message& message, const char* channel);
  void rebind_iopub_after_revocation();
  std::optional<wire::Message> receive(zmq::socket_t& socket, const char* channel);
  // Reads one multipart message; `user_id` is the sender's public key under CurveZMQ.
  std::vector<zmq::message_t> read_parts(zmq::socket_t& socket, std::string& user_id);
  // Decodes and verifies; a message over the limit is answered (on `socket`) and dropped.
  // `trusted` senders (the uplink) skip the roster.
  std::optional<wire::Message> decode_parts(std::vector<zmq::message_t> parts, zmq::socket_t& socket,
                                            const char* channel, const std::string& user_id, bool trusted);

  zmq::context_t& context_;
  wire::Signer& signer_;
  wire::ReplayGuard replay_guard_;
  wire::DecodeLimits limits_;
  const Session& session_;
  QueueInbox& inbox_;
  QueueOutbox& outbox_;
  zmq::socket_t shell_;  // GUARDED_BY(shell_mutex_) once the thread runs
  std::mutex shell_mutex_;
  // How long copies for the uplink may wait (Uplink::copy_delay); set before the thread starts.
  std::chrono::microseconds copy_delay_{std::chrono::milliseconds(1)};
  bool send_copies_now_ = false;  // the I/O thread's: the uplink's peer asked for them
  std::vector<std::string> copies_tokens_;  // the I/O thread's: "copies-sent" owed, with these tokens
  // The uplink is ready and mirrors direct peers: send_reply_now may run. Set by the I/O thread.
  std::atomic<bool> replies_from_main_{false};
  // The main thread sleeps on the shell socket's descriptor (read_shell_for_main): the I/O
  // thread leaves it out of its poll then, so that one thread, not two, wakes for a request.
  std::atomic<bool> main_sleeping_on_shell_{false};
  std::atomic<bool> io_watches_shell_{true};  // the I/O thread's poll has the descriptor
  // How the main thread, having read a request itself, gets the I/O thread going
  // (deferred_wake.hpp): by the time a short request has been answered, no wake-up.
  wire::DeferredWake io_wake_{copy_delay_};
  void wake_io_soon();
  std::atomic<int> shell_in_transit_{0};  // requests the I/O thread read and has not queued yet
  std::mutex replay_mutex_;               // the replay guard, as both threads decode requests
  zmq::socket_t control_;
  zmq::socket_t stdin_;
  zmq::socket_t iopub_;                 // an XPUB: its subscriptions tell who listens
  std::set<std::string> iopub_topics_;  // the I/O thread's: topics someone subscribes to
  wire::Json kernel_info_;
  std::string curve_secret_key_;  // empty: no encryption
  RosterFile* roster_ = nullptr;
  int revocations_seen_ = 0;
  std::string iopub_endpoint_;
  static constexpr std::size_t kTrimAfterBytes = std::size_t{8} << 20;
  static constexpr long kTrimWhenQuietMs = 200;
  std::atomic<std::size_t> bytes_since_trim_{0};
  static constexpr long kRosterCheckMs = 500;
  IoLoopHooks hooks_;
  wire::ConnectionInfo bound_;
  std::shared_ptr<Uplink> uplink_;
  zmq::socket_t* uplink_socket_ = nullptr;  // owned by uplink_
  // Leads the first identity of a request from the uplink: a NUL byte and a
  // random secret, so no peer on shell can have its replies sent there.
  std::string uplink_tag_;
  // The busy of the quiet request now running, not (yet) sent on the uplink.
  struct HeldBusy {
    std::string request_id;
    wire::Frames frames;                   // encoded, if iopub's subscribers had it
    std::optional<wire::Message> message;  // else the message, encoded if it goes up
    bool sent = false;                     // its request published something: busy went up before it
  };
  std::optional<HeldBusy> held_busy_;
  // A larger reply goes through the I/O thread (it is not copied for the uplink there).
  static constexpr std::size_t kLargestReplyFromMain = std::size_t{64} * 1024;
  std::vector<std::vector<zmq::message_t>> held_mirrors_;
  std::optional<std::chrono::steady_clock::time_point> mirror_deadline_;
  std::jthread thread_;
};

// The heartbeat: a ROUTER echoing every message, on a thread of its own.
// Stops when the context is shut down.
class Heartbeat {
 public:
  explicit Heartbeat(zmq::context_t& context);
  void enable_curve(const std::string& secret_key);
  ~Heartbeat();
  wire::Status bind(wire::ConnectionInfo& info);
  void start();

 private:
  zmq::socket_t socket_;
  std::jthread thread_;
};

}  // namespace ensemble::kernel
