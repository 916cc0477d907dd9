// IRC over the WebSocket (being written).
export class IrcConnection {}
