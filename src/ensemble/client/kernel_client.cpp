#include "ensemble/client/kernel_client.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <stdexcept>
#include <unordered_set>

#include <zmq.hpp>

#include "ensemble/wire/codec.hpp"
#include "ensemble/wire/ids.hpp"
#include "heartbeat_monitor.hpp"

namespace ensemble::client {

using wire::Result;
using wire::Status;
using wire::StatusCode;
using Clock = std::chrono::steady_clock;

namespace {

// What jupyter_client 7 puts in its headers; this client uses nothing newer.
constexpr const char* kClientProtocolVersion = "5.3";
// wait_for_ready re-asks for kernel_info this often, as jupyter_client does.
constexpr std::chrono::milliseconds kReadyProbeInterval{1000};
// After a kernel_info reply, how long to wait for iopub before probing again:
// short, since each probe makes the kernel publish, and the console waits on
// this at startup.
constexpr std::chrono::milliseconds kIopubGrace{10};
// Connection retries while the kernel is not listening yet: quick, backing off.
constexpr int kReconnectInterval = 5;       // ms
constexpr int kReconnectIntervalMax = 500;  // ms
// Messages read from one socket per poll, so no channel starves the others.
constexpr int kBatchPerSocket = 64;

const char* channel_name(ClientChannel channel) {
  switch (channel) {
    case ClientChannel::kShell: return "shell";
    case ClientChannel::kControl: return "control";
    case ClientChannel::kStdin: return "stdin";
    case ClientChannel::kIopub: return "iopub";
  }
  return "?";
}

std::string parent_msg_id(const wire::Message& message) {
  auto it = message.parent_header.find("msg_id");
  return it != message.parent_header.end() && it->is_string() ? it->get<std::string>() : std::string();
}

// A point in time to wait until; a negative timeout means no limit.
class Deadline {
 public:
  explicit Deadline(std::chrono::milliseconds timeout)
      : at_(timeout.count() < 0 ? Clock::time_point::max() : Clock::now() + timeout) {}
  // What to hand zmq::poll: -1 for no limit, else the time left (>= 0).
  std::chrono::milliseconds left() const {
    if (at_ == Clock::time_point::max()) return std::chrono::milliseconds(-1);
    auto left = std::chrono::ceil<std::chrono::milliseconds>(at_ - Clock::now());
    return std::max(left, std::chrono::milliseconds(0));
  }
  bool passed() const { return Clock::now() >= at_; }
  void cap(Clock::time_point at) { at_ = std::min(at_, at); }
  void cap(const Deadline& other) { cap(other.at_); }

 private:
  Clock::time_point at_;
};

enum class PollOutcome { kMessages, kExtraFd, kTimeout, kInterrupted };

}  // namespace

struct KernelClient::Impl {
  Impl(const wire::ConnectionInfo& info, std::string user);

  zmq::socket_t& socket(ClientChannel channel);
  std::string send(ClientChannel channel, const std::string& msg_type, Json content, Json parent);
  // Waits up to `timeout` for a socket or `extra_fd`. On kMessages,
  // `received` holds what could be read and decoded (possibly nothing), in
  // the order control, shell, stdin, iopub. The extra fd takes precedence:
  // on kExtraFd no socket was read.
  PollOutcome poll(std::chrono::milliseconds timeout, int extra_fd, std::vector<ClientEvent>& received);
  void receive_from(ClientChannel channel, std::vector<ClientEvent>& received);
  void on_stdin_connected();

  wire::ConnectionInfo connection;
  std::string session_id = wire::new_id();
  std::string username;
  wire::Signer signer;
  zmq::context_t context;  // before the sockets: destroyed after them
  zmq::socket_t shell;
  zmq::socket_t control;
  zmq::socket_t stdin_socket;
  zmq::socket_t iopub;
  // The kernel's stdin ROUTER drops an input_request for a peer whose
  // connection it has not yet accepted, and nothing else proves that
  // connection: this monitor reports the handshake, once.
  zmq::socket_t stdin_monitor;
  bool stdin_connected = false;
  std::deque<ClientEvent> deferred;                 // received, not yet returned by next_event
  std::unordered_set<std::string> ignored_parents;  // wait_for_ready's probes: their echoes are noise
  std::unique_ptr<HeartbeatMonitor> heartbeat;      // last: its thread stops first
};

KernelClient::Impl::Impl(const wire::ConnectionInfo& info, std::string user)
    : connection(info),
      username(std::move(user)),
      signer(info.key),
      shell(context, zmq::socket_type::dealer),
      control(context, zmq::socket_type::dealer),
      stdin_socket(context, zmq::socket_type::dealer),
      iopub(context, zmq::socket_type::sub) {
  // One identity on the three DEALERs: the kernel sends input_request on
  // stdin to the identity that sent the execute_request on shell.
  for (auto* dealer : {&shell, &control, &stdin_socket}) {
    dealer->set(zmq::sockopt::routing_id, session_id);
    dealer->set(zmq::sockopt::linger, 0);
  }
  iopub.set(zmq::sockopt::linger, 0);
  // A freshly launched kernel binds a few tens of ms after we connect;
  // ZeroMQ's default 100 ms retry would add most of that to startup.
  auto curve = curve_keys_for(connection);
  for (auto* socket : {&shell, &control, &stdin_socket, &iopub}) {
    socket->set(zmq::sockopt::reconnect_ivl, kReconnectInterval);
    socket->set(zmq::sockopt::reconnect_ivl_max, kReconnectIntervalMax);
    apply_curve(*socket, curve);
  }
  iopub.set(zmq::sockopt::subscribe, "");
  std::string monitor_address = "inproc://ensemble-client-stdin-" + session_id;
  if (zmq_socket_monitor(stdin_socket.handle(), monitor_address.c_str(), ZMQ_EVENT_HANDSHAKE_SUCCEEDED) != 0) {
    throw zmq::error_t();
  }
  stdin_monitor = zmq::socket_t(context, zmq::socket_type::pair);
  stdin_monitor.set(zmq::sockopt::linger, 0);
  stdin_monitor.connect(monitor_address);
  shell.connect(connection.endpoint(wire::Channel::kShell));
  control.connect(connection.endpoint(wire::Channel::kControl));
  stdin_socket.connect(connection.endpoint(wire::Channel::kStdin));
  iopub.connect(connection.endpoint(wire::Channel::kIopub));
  heartbeat = std::make_unique<HeartbeatMonitor>(context, connection.endpoint(wire::Channel::kHeartbeat), curve);
}

zmq::socket_t& KernelClient::Impl::socket(ClientChannel channel) {
  switch (channel) {
    case ClientChannel::kShell: return shell;
    case ClientChannel::kControl: return control;
    case ClientChannel::kStdin: return stdin_socket;
    case ClientChannel::kIopub: return iopub;
  }
  throw std::logic_error("unknown channel");
}

std::string KernelClient::Impl::send(ClientChannel channel, const std::string& msg_type, Json content, Json parent) {
  if (channel == ClientChannel::kIopub) throw std::invalid_argument("cannot send on iopub");
  wire::Message message = wire::make_message(msg_type, session_id, username, std::move(content), std::move(parent));
  message.header.version = kClientProtocolVersion;
  wire::Frames frames = wire::encode(message, signer);
  zmq::socket_t& target = socket(channel);
  try {
    // Never block: a DEALER queues until its high-water mark even while the
    // kernel is away; past that the message is lost and logged.
    for (std::size_t i = 0; i < frames.size(); ++i) {
      auto flags = i + 1 < frames.size() ? zmq::send_flags::sndmore : zmq::send_flags::none;
      if (!target.send(zmq::buffer(frames[i]), flags | zmq::send_flags::dontwait)) {
        spdlog::warn("{}: {} not sent, the queue to the kernel is full", channel_name(channel), msg_type);
        break;
      }
    }
  } catch (const zmq::error_t& error) {
    spdlog::warn("{}: sending {} failed: {}", channel_name(channel), msg_type, error.what());
  }
  return message.header.msg_id;
}

void KernelClient::Impl::receive_from(ClientChannel channel, std::vector<ClientEvent>& received) {
  zmq::socket_t& source = socket(channel);
  for (int i = 0; i < kBatchPerSocket; ++i) {
    wire::Frames frames;
    zmq::message_t part;
    if (!source.recv(part, zmq::recv_flags::dontwait)) return;
    frames.emplace_back(static_cast<const char*>(part.data()), part.size());
    while (part.more()) {  // the rest of a multipart message is already here
      (void)source.recv(part, zmq::recv_flags::none);
      frames.emplace_back(static_cast<const char*>(part.data()), part.size());
    }
    auto decoded = wire::decode(std::move(frames), signer, nullptr);
    if (!decoded.ok()) {
      spdlog::warn("{}: dropped a message: {}", channel_name(channel), decoded.status().to_string());
      continue;
    }
    if (ignored_parents.contains(parent_msg_id(decoded.value()))) continue;
    received.push_back(ClientEvent{channel, std::move(decoded).value()});
  }
}

void KernelClient::Impl::on_stdin_connected() {
  stdin_connected = true;
  zmq_socket_monitor(stdin_socket.handle(), nullptr, 0);
  stdin_monitor.close();
}

PollOutcome KernelClient::Impl::poll(std::chrono::milliseconds timeout, int extra_fd,
                                     std::vector<ClientEvent>& received) {
  constexpr ClientChannel kOrder[] = {ClientChannel::kControl, ClientChannel::kShell, ClientChannel::kStdin,
                                      ClientChannel::kIopub};
  zmq::pollitem_t items[6];
  int count = 0;
  for (auto channel : kOrder) items[count++] = {socket(channel).handle(), 0, ZMQ_POLLIN, 0};
  int monitor_at = -1;
  int extra_at = -1;
  if (!stdin_connected) {
    monitor_at = count;
    items[count++] = {stdin_monitor.handle(), 0, ZMQ_POLLIN, 0};
  }
  if (extra_fd >= 0) {
    extra_at = count;
    items[count++] = {nullptr, extra_fd, ZMQ_POLLIN, 0};
  }
  int ready = 0;
  try {
    ready = zmq::poll(items, static_cast<std::size_t>(count), timeout);
  } catch (const zmq::error_t& error) {
    if (error.num() == EINTR) return PollOutcome::kInterrupted;
    throw;
  }
  if (ready == 0) return PollOutcome::kTimeout;
  if (extra_at >= 0 && (items[extra_at].revents & (ZMQ_POLLIN | ZMQ_POLLERR)) != 0) return PollOutcome::kExtraFd;
  if (monitor_at >= 0 && (items[monitor_at].revents & ZMQ_POLLIN)) on_stdin_connected();
  for (int i = 0; i < 4; ++i) {
    if (items[i].revents & ZMQ_POLLIN) receive_from(kOrder[i], received);
  }
  return PollOutcome::kMessages;
}

KernelClient::KernelClient(const wire::ConnectionInfo& connection, std::string username) {
  try {
    impl_ = std::make_unique<Impl>(connection, std::move(username));
  } catch (const zmq::error_t& error) {
    throw std::runtime_error(std::string("cannot connect to the kernel: ") + error.what());
  }
}

KernelClient::~KernelClient() = default;

const std::string& KernelClient::session_id() const {
  return impl_->session_id;
}

const std::string& KernelClient::username() const {
  return impl_->username;
}

std::string KernelClient::send(ClientChannel channel, const std::string& msg_type, Json content) {
  return impl_->send(channel, msg_type, std::move(content), Json::object());
}

void KernelClient::send_input_reply(const wire::Message& input_request, const std::string& value) {
  impl_->send(ClientChannel::kStdin, "input_reply", Json{{"value", value}}, input_request.header.to_json());
}

std::optional<ClientEvent> KernelClient::next_event(std::chrono::milliseconds timeout, int extra_fd,
                                                    bool* extra_ready) {
  if (extra_ready != nullptr) *extra_ready = false;
  Deadline deadline(timeout);
  while (impl_->deferred.empty()) {
    std::vector<ClientEvent> received;
    switch (impl_->poll(deadline.left(), extra_fd, received)) {
      case PollOutcome::kExtraFd:
        if (extra_ready != nullptr) *extra_ready = true;
        return std::nullopt;
      case PollOutcome::kTimeout:
      case PollOutcome::kInterrupted: return std::nullopt;
      case PollOutcome::kMessages: break;
    }
    for (auto& event : received) impl_->deferred.push_back(std::move(event));
    if (impl_->deferred.empty() && deadline.passed()) return std::nullopt;  // only undecodable messages came
  }
  ClientEvent event = std::move(impl_->deferred.front());
  impl_->deferred.pop_front();
  return event;
}

Result<wire::Message> KernelClient::request(ClientChannel channel, const std::string& msg_type, Json content,
                                            std::chrono::milliseconds timeout) {
  std::string msg_id = send(channel, msg_type, std::move(content));
  Deadline deadline(timeout);
  while (true) {
    std::vector<ClientEvent> received;
    if (impl_->poll(deadline.left(), -1, received) == PollOutcome::kInterrupted) {
      return Status::Error(StatusCode::kInterrupted, "interrupted while waiting for the reply to " + msg_type);
    }
    std::optional<wire::Message> reply;
    for (auto& event : received) {
      if (!reply && event.channel == channel && parent_msg_id(event.message) == msg_id) {
        reply = std::move(event.message);
      } else {
        impl_->deferred.push_back(std::move(event));
      }
    }
    if (reply) return std::move(*reply);
    if (deadline.passed()) {
      return Status::Error(StatusCode::kUnavailable,
                           "no reply to " + msg_type + " within " + std::to_string(timeout.count()) + " ms");
    }
  }
}

Result<wire::Message> KernelClient::wait_for_ready(std::chrono::milliseconds timeout) {
  // A kernel_info reply proves shell works; any iopub message proves our
  // subscription has reached the kernel (messages published before that are
  // lost, so a cell run too early would lose its output). Each probe makes
  // the kernel publish busy/idle, so probing again until one arrives suffices.
  // Unlike jupyter_client, also wait until the stdin connection is up, or an
  // early input() would hang: its input_request would be dropped.
  Deadline deadline(timeout);
  std::unordered_set<std::string> probes;
  std::optional<wire::Message> reply;
  bool iopub_seen = false;
  bool interrupted = false;
  auto ready = [&] { return reply && iopub_seen && impl_->stdin_connected; };
  while (!ready() && !interrupted && !deadline.passed()) {
    probes.insert(send(ClientChannel::kShell, "kernel_info_request", Json::object()));
    Deadline probe_end(kReadyProbeInterval);
    probe_end.cap(deadline);
    while (!ready() && !probe_end.passed()) {
      std::vector<ClientEvent> received;
      if (impl_->poll(probe_end.left(), -1, received) == PollOutcome::kInterrupted) {
        interrupted = true;
        break;
      }
      for (auto& event : received) {
        bool from_probe = probes.contains(parent_msg_id(event.message));
        if (event.channel == ClientChannel::kIopub) {
          iopub_seen = true;
          if (from_probe) continue;
        } else if (from_probe && event.channel == ClientChannel::kShell &&
                   event.message.header.msg_type == "kernel_info_reply") {
          reply = std::move(event.message);
          if (!iopub_seen) probe_end.cap(Clock::now() + kIopubGrace);
          continue;
        }
        impl_->deferred.push_back(std::move(event));
      }
    }
  }
  // Status messages and late replies for the probes may still be on their way.
  impl_->ignored_parents.insert(probes.begin(), probes.end());
  if (ready()) return std::move(*reply);
  if (interrupted) return Status::Error(StatusCode::kInterrupted, "interrupted while waiting for the kernel");
  std::string missing = !reply ? "no kernel_info reply" : !iopub_seen ? "nothing on iopub" : "stdin not connected";
  return Status::Error(StatusCode::kUnavailable,
                       "the kernel was not ready within " + std::to_string(timeout.count()) + " ms (" + missing + ")");
}

bool KernelClient::alive() const {
  return impl_->heartbeat->alive();
}

}  // namespace ensemble::client
