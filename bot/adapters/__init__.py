"""Platform adapters: each turns platform events into `Incoming` and renders `Reply` back.

Only this package imports platform SDKs (telegram, linebot); no answer logic lives here.
"""
