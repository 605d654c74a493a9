"""WhatsApp: the WhatsApp Business Platform's Cloud API (Meta) for a business's WhatsApp numbers.
docs/channels/whatsapp.md."""
