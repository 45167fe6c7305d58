"""Every CKAN-specific shape: the Action API transport, envelopes, errors, dataset dicts and fq parsing."""
