// Each control request's context: Hummingbird's core storage and the connection's
// channel, whose peer credentials the credential check reads.
import Hummingbird
import NIOCore

struct ControlContext: RequestContext {
    var coreContext: CoreRequestContextStorage
    let channel: any Channel

    init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        channel = source.channel
    }
}
