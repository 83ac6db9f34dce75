--- Anneal for Neovim: starts `anneal serve` with |vim.lsp.start()| and turns its
--- "Anneal: Rewrite selection" code action into a previewed rewrite that the user accepts or
--- rejects. See `:help anneal`.
local M = {}

local NAME = 'anneal'
local REWRITE_KIND = 'refactor.rewrite'
local REPAIR_KIND = 'quickfix'
-- The `source` of the server's syntax-error diagnostics, which its quick fix is offered on.
local DIAGNOSTIC_SOURCE = 'anneal'
-- LSP error codes the server answers with.
local CONTENT_MODIFIED = -32801
local REQUEST_CANCELLED = -32800
-- How long a rewrite asked for while the server starts waits for it.
local START_TIMEOUT_MS = 30000

local defaults = {
  cmd = { 'anneal', 'serve' },
  filetypes = { 'rust', 'python' },
  --- Sent as `initializationOptions`: { model = 'default' | '<checkpoint dir>', device = 'cpu',
  --- edit = { blockTokens = .., acceptSyntaxErrors = .., ... } }. nil sends nothing.
  init_options = nil,
  --- Files or folders that mark the root folder; the current directory when none is found.
  root_markers = { '.git', 'Cargo.toml', 'pyproject.toml', 'setup.py' },
  --- Show the server's work-done progress (model loading, rewriting): 'echo', 'notify' or false.
  progress = 'echo',
  --- Where the preview opens: 'below', 'above', 'right' or 'left' of the edited window.
  preview_split = 'below',
  --- Keymaps. Each is a key, a list of keys, or false. `rewrite` and `repair` are set in normal
  --- and visual mode in buffers the server attaches to; `accept` and `reject` in the preview.
  keymaps = {
    rewrite = false,
    repair = false,
    accept = { 'ga', '<CR>' },
    reject = { 'q', 'gr' },
  },
  --- Extra fields for the |vim.lsp.ClientConfig| (handlers, capabilities, on_attach, ...).
  client = {},
}

M.config = vim.deepcopy(defaults)

--- The proposal on show (one at a time): { bufnr, client_id, edit, version, old_lines, new_lines,
--- preview_buf, preview_win, source_win, instruction }.
M.proposal = nil
--- The request in flight, if any: { client_id, request_id, bufnr }.
M.pending = nil
--- The last work-done progress seen from an Anneal client: { kind, title, message, percentage }.
M.progress = nil
--- How many progress notifications have been seen (tests read this).
M.progress_count = 0

local has_011 = vim.fn.has('nvim-0.11') == 1

local function notify(msg, level)
  vim.notify('Anneal: ' .. msg, level or vim.log.levels.INFO)
end

-- Client methods are called with `:` from 0.11 on (the `.` form is deprecated there) and with
-- `.` in 0.10.
local function client_request(client, method, params, handler, bufnr)
  if has_011 then
    return client:request(method, params, handler, bufnr)
  end
  return client.request(method, params, handler, bufnr)
end

local function client_notify(client, method, params)
  if has_011 then
    return client:notify(method, params)
  end
  return client.notify(method, params)
end

local function client_cancel(client, request_id)
  if has_011 then
    return client:cancel_request(request_id)
  end
  return client.cancel_request(request_id)
end

local function as_list(keys)
  if not keys then
    return {}
  end
  if type(keys) == 'string' then
    return { keys }
  end
  return keys
end

--- The Anneal client attached to `bufnr`, if any.
---@param bufnr? integer
---@return vim.lsp.Client?
function M.get_client(bufnr)
  bufnr = (bufnr == nil or bufnr == 0) and vim.api.nvim_get_current_buf() or bufnr
  for _, client in ipairs(M.clients()) do
    if client.attached_buffers[bufnr] then
      return client
    end
  end
end

-- Ids of the clients started by M.start(): vim.lsp.get_clients() leaves out clients that are
-- still initializing (0.11), and a buffer is attached to its client before that.
local started = {}

--- All Anneal clients, the ones still starting included.
---@return vim.lsp.Client[]
function M.clients()
  local out, seen = {}, {}
  for _, client in ipairs(vim.lsp.get_clients({ name = NAME })) do
    seen[client.id] = true
    out[#out + 1] = client
  end
  for id in pairs(started) do
    local client = vim.lsp.get_client_by_id(id)
    if not client then
      started[id] = nil
    elseif not seen[id] then
      out[#out + 1] = client
    end
  end
  table.sort(out, function(a, b)
    return a.id < b.id
  end)
  return out
end

local function root_dir(bufnr)
  local root = vim.fs.root and vim.fs.root(bufnr, M.config.root_markers)
  return root or vim.fn.getcwd()
end

--- Starts (or reuses) the server for `bufnr` and attaches it.
---@param bufnr? integer
---@return integer? client_id
function M.start(bufnr)
  bufnr = (bufnr == nil or bufnr == 0) and vim.api.nvim_get_current_buf() or bufnr
  if vim.bo[bufnr].buftype ~= '' then
    return nil
  end
  local config = vim.tbl_deep_extend('force', {}, M.config.client or {}, {
    name = NAME,
    cmd = M.config.cmd,
    root_dir = root_dir(bufnr),
    init_options = M.config.init_options,
  })
  local id = vim.lsp.start(config, { bufnr = bufnr })
  if id then
    started[id] = true
  end
  return id
end

local function set_buffer_keymaps(bufnr)
  -- Each action on the line in normal mode and on the selection in visual mode.
  for key, command in pairs({ rewrite = 'AnnealRewrite', repair = 'AnnealRepair' }) do
    for _, lhs in ipairs(as_list(M.config.keymaps[key])) do
      local desc = 'Anneal: ' .. key
      vim.keymap.set(
        'n',
        lhs,
        '<Cmd>' .. command .. '<CR>',
        { buffer = bufnr, desc = desc .. ' line' }
      )
      vim.keymap.set(
        'x',
        lhs,
        ':' .. command .. '<CR>',
        { buffer = bufnr, desc = desc .. ' selection' }
      )
    end
  end
end

-- Range handling ------------------------------------------------------------------------------

--- The LSP range for 1-based lines `line1..line2` (whole lines; the end is the end of `line2`).
local function line_range(bufnr, line1, line2, encoding)
  local last = vim.api.nvim_buf_get_lines(bufnr, line2 - 1, line2, false)[1] or ''
  return {
    start = { line = line1 - 1, character = 0 },
    ['end'] = {
      line = line2 - 1,
      character = vim.lsp.util.character_offset(bufnr, line2 - 1, #last, encoding),
    },
  }
end

--- The LSP range of a charwise visual selection between marks `<` and `>` (end exclusive).
local function charwise_range(bufnr, encoding)
  local s = vim.api.nvim_buf_get_mark(bufnr, '<')
  local e = vim.api.nvim_buf_get_mark(bufnr, '>')
  local last = vim.api.nvim_buf_get_lines(bufnr, e[1] - 1, e[1], false)[1] or ''
  local end_row, end_col = e[1] - 1, e[2]
  if end_col >= #last then
    end_col = #last
  else
    -- The mark is on the first byte of the last selected character; the LSP end is after it.
    end_col = end_col + #vim.fn.strpart(last, end_col, 1, 1)
  end
  return {
    start = {
      line = s[1] - 1,
      character = vim.lsp.util.character_offset(bufnr, s[1] - 1, s[2], encoding),
    },
    ['end'] = {
      line = end_row,
      character = vim.lsp.util.character_offset(bufnr, end_row, end_col, encoding),
    },
  }
end

-- Preview ---------------------------------------------------------------------------------------

local function buf_lines(bufnr)
  return vim.api.nvim_buf_get_lines(bufnr, 0, -1, false)
end

--- The text edits of `edit` for `uri` (from `documentChanges` or `changes`), and the version
--- they are pinned to (nil when unversioned).
local function edits_for(edit, uri)
  local edits, version = {}, nil
  for _, change in ipairs(edit.documentChanges or {}) do
    if change.textDocument and change.textDocument.uri == uri then
      vim.list_extend(edits, change.edits or {})
      version = change.textDocument.version
    elseif change.kind then
      return nil, nil, 'the edit creates, renames or deletes files'
    else
      return nil,
        nil,
        'the edit touches another document: ' .. tostring(
          change.textDocument and change.textDocument.uri
        )
    end
  end
  for change_uri, list in pairs(edit.changes or {}) do
    if change_uri ~= uri then
      return nil, nil, 'the edit touches another document: ' .. change_uri
    end
    vim.list_extend(edits, list)
  end
  if version == vim.NIL then
    version = nil
  end
  return edits, version
end

--- `bufnr`'s lines with `edits` applied, applied by Neovim itself in a hidden scratch buffer so
--- that the preview is exactly what accepting does.
local function apply_to_copy(bufnr, edits, encoding)
  local scratch = vim.api.nvim_create_buf(false, true)
  vim.api.nvim_buf_set_lines(scratch, 0, -1, false, buf_lines(bufnr))
  for _, opt in ipairs({ 'eol', 'fixeol', 'fileformat' }) do
    vim.bo[scratch][opt] = vim.bo[bufnr][opt]
  end
  local ok, err = pcall(vim.lsp.util.apply_text_edits, vim.deepcopy(edits), scratch, encoding)
  local lines = buf_lines(scratch)
  vim.api.nvim_buf_delete(scratch, { force = true })
  if not ok then
    return nil, err
  end
  return lines
end

local function close_preview(proposal)
  if not proposal then
    return
  end
  proposal.closing = true
  if proposal.preview_win and vim.api.nvim_win_is_valid(proposal.preview_win) then
    -- The last window of a tab page cannot be closed; wiping the buffer is enough then.
    pcall(vim.api.nvim_win_close, proposal.preview_win, true)
  end
  if proposal.preview_buf and vim.api.nvim_buf_is_valid(proposal.preview_buf) then
    pcall(vim.api.nvim_buf_delete, proposal.preview_buf, { force = true })
  end
  if proposal.source_win and vim.api.nvim_win_is_valid(proposal.source_win) then
    pcall(vim.api.nvim_set_current_win, proposal.source_win)
  end
end

local function show_preview(proposal)
  local name = vim.api.nvim_buf_get_name(proposal.bufnr)
  local short = name ~= '' and vim.fn.fnamemodify(name, ':~:.')
    or ('[buffer ' .. proposal.bufnr .. ']')
  local old = table.concat(proposal.old_lines, '\n') .. '\n'
  local new = table.concat(proposal.new_lines, '\n') .. '\n'
  local diff = (vim.text and vim.text.diff or vim.diff)(
    old,
    new,
    { result_type = 'unified', ctxlen = 3 }
  )
  local a, b = 'a/' .. short, 'b/' .. short
  if short:sub(1, 1) == '/' or short:sub(1, 1) == '~' or short:sub(1, 1) == '[' then
    a, b = short, short
  end
  local lines = { '--- ' .. a, '+++ ' .. b .. ' (Anneal proposal)' }
  vim.list_extend(lines, vim.split(diff, '\n', { plain = true, trimempty = true }))
  proposal.diff = lines

  local buf = vim.api.nvim_create_buf(false, true)
  vim.api.nvim_buf_set_lines(buf, 0, -1, false, lines)
  pcall(
    vim.api.nvim_buf_set_name,
    buf,
    'anneal://proposal/' .. proposal.bufnr .. '/' .. proposal.id
  )
  vim.bo[buf].buftype = 'nofile'
  vim.bo[buf].bufhidden = 'wipe'
  vim.bo[buf].swapfile = false
  vim.bo[buf].modifiable = false
  vim.bo[buf].filetype = 'diff'
  proposal.preview_buf = buf

  local split = M.config.preview_split or 'below'
  local config = { split = split, win = proposal.source_win }
  if split == 'below' or split == 'above' then
    config.height = math.max(3, math.min(#lines, math.floor(vim.o.lines / 2)))
  end
  local ok, win = pcall(vim.api.nvim_open_win, buf, true, config)
  if not ok then
    -- The source window is gone (or cannot be split): open the preview where we are.
    win = vim.api.nvim_open_win(buf, true, { split = split })
  end
  proposal.preview_win = win
  vim.wo[win].winfixheight = true
  local accept = table.concat(as_list(M.config.keymaps.accept), '/')
  local reject = table.concat(as_list(M.config.keymaps.reject), '/')
  vim.wo[win].winbar = ('Anneal proposal · %s accept · %s reject')
    :format(accept, reject)
    :gsub('%%', '%%%%')

  for _, lhs in ipairs(as_list(M.config.keymaps.accept)) do
    vim.keymap.set('n', lhs, function()
      M.accept()
    end, { buffer = buf, nowait = true, desc = 'Anneal: accept the proposal' })
  end
  for _, lhs in ipairs(as_list(M.config.keymaps.reject)) do
    vim.keymap.set('n', lhs, function()
      M.reject()
    end, { buffer = buf, nowait = true, desc = 'Anneal: reject the proposal' })
  end
  -- Closing the preview some other way (`:q`, `:bwipe`) rejects the proposal.
  vim.api.nvim_create_autocmd('BufWipeout', {
    buffer = buf,
    once = true,
    callback = function()
      if M.proposal == proposal and not proposal.closing then
        M.proposal = nil
        notify('proposal rejected')
      end
    end,
  })
end

-- Rewrite -----------------------------------------------------------------------------------------

local next_id = 0

local function on_resolved(ctx, action)
  local bufnr = ctx.bufnr
  if not vim.api.nvim_buf_is_valid(bufnr) then
    return nil, 'the buffer is gone'
  end
  local edit = action and action.edit
  if not edit then
    -- A repair that found nothing says so in its title.
    return nil,
      (action and action.title and action.title:find('^Anneal: no ')) and action.title:sub(9)
        or 'the server proposed no edit'
  end
  local uri = vim.uri_from_bufnr(bufnr)
  local edits, version, why = edits_for(edit, uri)
  if not edits then
    return nil, 'cannot preview the proposal: ' .. why
  end
  if #edits == 0 then
    return nil, 'the model proposed no change'
  end
  version = version or ctx.version
  if vim.lsp.util.buf_versions[bufnr] ~= version then
    return nil,
      ('the buffer changed while the model was rewriting (version %s → %s); run the rewrite again'):format(
        version,
        vim.lsp.util.buf_versions[bufnr]
      )
  end
  local new_lines, err = apply_to_copy(bufnr, edits, ctx.encoding)
  if not new_lines then
    return nil, 'cannot apply the proposal: ' .. tostring(err)
  end
  if M.proposal then
    local old = M.proposal
    M.proposal = nil
    close_preview(old)
  end
  next_id = next_id + 1
  local proposal = {
    id = next_id,
    bufnr = bufnr,
    client_id = ctx.client_id,
    encoding = ctx.encoding,
    edit = edit,
    edits = edits,
    version = version,
    instruction = ctx.instruction,
    -- What the server says the edit does (`Anneal: insert ':'` for a repair).
    title = action.title,
    range = ctx.range,
    old_lines = buf_lines(bufnr),
    new_lines = new_lines,
    source_win = ctx.source_win,
  }
  M.proposal = proposal
  show_preview(proposal)
  return proposal
end

local function describe_error(err)
  if err.code == CONTENT_MODIFIED then
    return 'the buffer changed before the model started; run the rewrite again'
  end
  return err.message or vim.inspect(err)
end

--- Asks the server to rewrite a range and previews the proposal.
---
--- opts:
---   bufnr        buffer (default: current)
---   line1, line2 1-based line range (default: the cursor line)
---   range        an LSP range in the client's position encoding (overrides line1/line2)
---   instruction  what to do; nil prompts with |vim.ui.input()|, false or '' sends none
---   diagnostic   an Anneal syntax-error diagnostic (LSP form): ask for its "Repair syntax error"
---                quick fix instead, on the diagnostic's range
---   on_done      called as on_done(err, proposal) once the preview is shown or the request fails
---@param opts? table
function M.rewrite(opts)
  opts = opts or {}
  local bufnr = (opts.bufnr == nil or opts.bufnr == 0) and vim.api.nvim_get_current_buf()
    or opts.bufnr
  local client = M.get_client(bufnr)
  local function fail(msg, level)
    notify(msg, level or vim.log.levels.ERROR)
    if opts.on_done then
      opts.on_done(msg, nil)
    end
  end
  if not client then
    return fail('no Anneal server is attached to this buffer (see :checkhealth anneal)')
  end
  if opts.instruction == nil then
    vim.ui.input({ prompt = 'Anneal instruction (empty for none): ' }, function(input)
      if input == nil then
        return -- cancelled
      end
      M.rewrite(vim.tbl_extend('force', opts, { bufnr = bufnr, instruction = input }))
    end)
    return
  end
  if not client.initialized then
    -- Just opened: wait for the server to answer `initialize` (it loads the model afterwards,
    -- and a rewrite waits for that on the server side).
    local waited = opts._waited or 0
    if waited >= START_TIMEOUT_MS then
      return fail(('the Anneal server did not start within %d s'):format(START_TIMEOUT_MS / 1000))
    end
    if waited == 0 then
      notify('waiting for the server to start')
    end
    vim.defer_fn(function()
      M.rewrite(vim.tbl_extend('force', opts, { bufnr = bufnr, _waited = waited + 100 }))
    end, 100)
    return
  end

  local instruction = opts.instruction
  if instruction == false or vim.trim(instruction) == '' then
    instruction = nil
  end

  local encoding = client.offset_encoding or 'utf-16'
  local diagnostic = opts.diagnostic
  local kind = diagnostic and REPAIR_KIND or REWRITE_KIND
  local range = diagnostic and diagnostic.range or opts.range
  if not range then
    local cursor = vim.api.nvim_win_get_cursor(0)[1]
    range = line_range(bufnr, opts.line1 or cursor, opts.line2 or opts.line1 or cursor, encoding)
  end

  -- One rewrite at a time: the server runs one model job at a time anyway.
  M.cancel(true)

  local uri = vim.uri_from_bufnr(bufnr)
  local version = vim.lsp.util.buf_versions[bufnr]
  local ctx = {
    bufnr = bufnr,
    client_id = client.id,
    encoding = encoding,
    version = version,
    instruction = instruction,
    range = range,
    source_win = vim.api.nvim_get_current_win(),
  }
  local pending = { client_id = client.id, bufnr = bufnr }
  M.pending = pending

  local function done(err, proposal)
    if M.pending == pending then
      M.pending = nil
    end
    if opts.on_done then
      opts.on_done(err, proposal)
    end
  end

  local function resolve(action)
    action.data = action.data or {}
    action.data.instruction = instruction
    local ok, request_id = client_request(
      client,
      'codeAction/resolve',
      action,
      function(err, resolved)
        if pending.cancelled then
          return
        end
        if err then
          if err.code ~= REQUEST_CANCELLED then
            notify('rewrite failed: ' .. describe_error(err), vim.log.levels.ERROR)
          end
          return done(describe_error(err), nil)
        end
        local proposal, why = on_resolved(ctx, resolved)
        if not proposal then
          notify(why, vim.log.levels.WARN)
        end
        done(why, proposal)
      end,
      bufnr
    )
    if not ok then
      return done('the server is not running', nil)
    end
    pending.request_id = request_id
  end

  local params = {
    textDocument = { uri = uri },
    range = range,
    context = { diagnostics = { diagnostic }, only = { kind }, triggerKind = 1 },
  }
  local ok, request_id = client_request(
    client,
    'textDocument/codeAction',
    params,
    function(err, actions)
      if pending.cancelled then
        return
      end
      if err then
        notify('code action request failed: ' .. describe_error(err), vim.log.levels.ERROR)
        return done(describe_error(err), nil)
      end
      local action
      for _, a in ipairs(actions or {}) do
        if a.kind == kind and type(a.data) == 'table' and a.data.uri then
          action = a
          break
        end
      end
      if not action then
        -- The server offers a command instead of a resolvable action to clients that do not
        -- announce resolve support; it resolves data it did not hand out just the same.
        action = {
          title = diagnostic and 'Anneal: Repair syntax error' or 'Anneal: Rewrite selection',
          kind = kind,
          data = { uri = uri, version = ctx.version, range = range },
        }
      end
      ctx.version = action.data.version or ctx.version
      resolve(action)
    end,
    bufnr
  )
  if not ok then
    return done('the server is not running', nil)
  end
  pending.request_id = request_id
end

--- The server's syntax-error diagnostic (LSP form) under the cursor of the current window, if
--- `bufnr` is shown there and has one.
---@param bufnr? integer
---@return table?
function M.diagnostic_at_cursor(bufnr)
  bufnr = (bufnr == nil or bufnr == 0) and vim.api.nvim_get_current_buf() or bufnr
  if vim.api.nvim_win_get_buf(0) ~= bufnr then
    return nil
  end
  local row, col = unpack(vim.api.nvim_win_get_cursor(0))
  local best
  for _, d in ipairs(vim.diagnostic.get(bufnr, { lnum = row - 1 })) do
    local lsp = d.user_data and d.user_data.lsp
    if lsp and d.source == DIAGNOSTIC_SOURCE then
      local on = col >= d.col and (d.end_lnum > d.lnum or col <= d.end_col)
      -- The one under the cursor, else the first on the line.
      if on then
        return lsp
      end
      best = best or lsp
    end
  end
  return best
end

--- Rewrites with no instruction: asks the model to redo the range from its context alone.
--- Without a range, on a line with an Anneal syntax-error diagnostic, it asks for that
--- diagnostic's "Repair syntax error" quick fix.
---@param opts? table same as |anneal.rewrite()| less `instruction`
function M.repair(opts)
  opts = vim.tbl_extend('force', opts or {}, { instruction = false })
  if not (opts.range or opts.line1 or opts.diagnostic) then
    opts.diagnostic = M.diagnostic_at_cursor(opts.bufnr)
  end
  return M.rewrite(opts)
end

--- Cancels the rewrite in flight, if any.
function M.cancel(quiet)
  local pending = M.pending
  if not pending then
    return false
  end
  M.pending = nil
  pending.cancelled = true
  local client = vim.lsp.get_client_by_id(pending.client_id)
  if client and pending.request_id then
    pcall(client_cancel, client, pending.request_id)
  end
  if not quiet then
    notify('rewrite cancelled')
  end
  return true
end

--- Applies the proposal on show, as one undo step. Refuses when the buffer changed since the
--- request (the proposal is then dropped; run the rewrite again).
---@return boolean applied, string? why
function M.accept()
  local proposal = M.proposal
  if not proposal then
    notify('no proposal to accept', vim.log.levels.WARN)
    return false, 'no proposal'
  end
  M.proposal = nil
  close_preview(proposal)
  local bufnr = proposal.bufnr
  if not vim.api.nvim_buf_is_valid(bufnr) or not vim.api.nvim_buf_is_loaded(bufnr) then
    notify('the buffer is gone; nothing was changed', vim.log.levels.ERROR)
    return false, 'buffer gone'
  end
  local now = vim.lsp.util.buf_versions[bufnr]
  if now ~= proposal.version then
    local why = ('the buffer changed since the request (version %s → %s); nothing was changed, run the rewrite again'):format(
      proposal.version,
      now
    )
    notify(why, vim.log.levels.WARN)
    return false, why
  end
  if not vim.bo[bufnr].modifiable then
    notify('the buffer is not modifiable', vim.log.levels.ERROR)
    return false, 'not modifiable'
  end
  local client = vim.lsp.get_client_by_id(proposal.client_id)
  local encoding = (client and client.offset_encoding) or proposal.encoding
  -- Close the undo block before and after, so the whole edit is one undo step.
  local function break_undo()
    vim.api.nvim_buf_call(bufnr, function()
      vim.cmd('let &g:undolevels = &g:undolevels')
    end)
  end
  break_undo()
  local ok, err = pcall(vim.lsp.util.apply_workspace_edit, proposal.edit, encoding)
  break_undo()
  if not ok then
    notify('applying the proposal failed: ' .. tostring(err), vim.log.levels.ERROR)
    return false, tostring(err)
  end
  return true
end

--- Drops the proposal on show; the buffer is left as it is.
function M.reject()
  local proposal = M.proposal
  if not proposal then
    return false
  end
  M.proposal = nil
  close_preview(proposal)
  notify('proposal rejected')
  return true
end

-- Progress -------------------------------------------------------------------------------------------

local function on_progress(ev)
  local data = ev.data or {}
  local client = data.client_id and vim.lsp.get_client_by_id(data.client_id)
  if not client or client.name ~= NAME then
    return
  end
  local params = data.params or data.result or {}
  local value = params.value
  if type(value) ~= 'table' then
    return
  end
  if value.title then
    M._titles = M._titles or {}
    M._titles[params.token] = value.title
  end
  local title = value.title or (M._titles and M._titles[params.token]) or 'Anneal'
  M.progress =
    { kind = value.kind, title = title, message = value.message, percentage = value.percentage }
  M.progress_count = M.progress_count + 1
  if value.kind == 'end' and M._titles then
    M._titles[params.token] = nil
  end
  local text = title .. (value.message and (': ' .. value.message) or '')
  if value.kind == 'end' and not value.message then
    text = title .. ': done'
  end
  if M.config.progress == 'notify' then
    if value.kind ~= 'report' then
      vim.notify(text, vim.log.levels.INFO)
    end
  elseif M.config.progress == 'echo' then
    -- Longer than the command line would ask for <Enter>.
    local room = math.max(vim.v.echospace - 1, 10)
    if vim.fn.strdisplaywidth(text) > room then
      text = vim.fn.strcharpart(text, 0, room - 1) .. '…'
    end
    vim.api.nvim_echo({ { text } }, false, {})
  end
end

-- Fill and status ------------------------------------------------------------------------------

--- Fills at the cursor: the model writes up to `fill.tokens` tokens there from the code on both
--- sides. Asks with `textDocument/inlineCompletion` where the server offers it, else
--- `textDocument/completion`; inserts the text as one undo step, unless the buffer changed
--- while the model ran (then it says so and changes nothing).
---@param opts? { on_done?: fun(err?: string) }
function M.fill(opts)
  opts = opts or {}
  local done = opts.on_done or function() end
  local bufnr = vim.api.nvim_get_current_buf()
  local client = M.get_client(bufnr)
  if not client then
    notify('no Anneal server for this buffer', vim.log.levels.WARN)
    return done('no client')
  end
  local params = vim.lsp.util.make_position_params(0, client.offset_encoding or 'utf-16')
  local caps = client.server_capabilities or {}
  local method = caps.inlineCompletionProvider and 'textDocument/inlineCompletion'
    or 'textDocument/completion'
  params.context = { triggerKind = 1 }
  local tick = vim.api.nvim_buf_get_changedtick(bufnr)
  notify('filling…')
  client_request(client, method, params, function(err, result)
    if err then
      notify('fill failed: ' .. describe_error(err), vim.log.levels.ERROR)
      return done(describe_error(err))
    end
    local items = result and (result.items or result) or {}
    local item = items[1]
    local text = item and (item.insertText or (item.textEdit and item.textEdit.newText))
    local range = item and (item.range or (item.textEdit and item.textEdit.range))
    if not text or text == '' or not range then
      notify('the model wrote nothing here')
      return done('empty')
    end
    if vim.api.nvim_buf_get_changedtick(bufnr) ~= tick then
      notify('the buffer changed while the model ran; ask again', vim.log.levels.WARN)
      return done('stale')
    end
    vim.lsp.util.apply_text_edits(
      { { range = range, newText = text } },
      bufnr,
      client.offset_encoding or 'utf-16'
    )
    notify('filled ' .. #text .. ' characters (u undoes)')
    done(nil)
  end, bufnr)
end

--- The server's `anneal/status`: whether the model is loading, ready or failed, and which.
---@param on_status fun(status?: table, err?: string)
function M.server_status(on_status)
  local client = M.get_client(0) or M.clients()[1]
  if not client then
    return on_status(nil, 'no Anneal server is running')
  end
  client_request(client, 'anneal/status', vim.NIL, function(err, result)
    on_status(result, err and describe_error(err) or nil)
  end)
end

--- The status as one line: `ready · default (anneal, 4.2 M parameters, f32, edit-trained) · cpu`.
function M.describe_status(s)
  local line = s.state .. ' · ' .. s.model
  local info = s.modelInfo
  if info then
    line = line
      .. string.format(
        ' (%s, %.1f M parameters, %s%s)',
        info.family,
        info.parameters / 1e6,
        info.dtype,
        info.editTrained and ', edit-trained' or ''
      )
  end
  line = line .. ' · ' .. s.device
  if s.error then
    line = line .. ' · ' .. s.error
  end
  return line
end

--- A one-line status for a statusline: the last progress message of a running job, or ''.
function M.status()
  local p = M.progress
  if not p or p.kind == 'end' then
    return ''
  end
  return p.title .. (p.message and (': ' .. p.message) or '')
end

--- Replaces the server settings (`init_options`) and sends them to the running servers with
--- `workspace/didChangeConfiguration`; a changed `model` or `device` reloads the model.
---@param init_options table
function M.configure(init_options)
  M.config.init_options = init_options
  for _, client in ipairs(vim.lsp.get_clients({ name = NAME })) do
    client.config.init_options = init_options
    client_notify(
      client,
      'workspace/didChangeConfiguration',
      { settings = init_options or vim.NIL }
    )
  end
end

-- Setup ------------------------------------------------------------------------------------------------

local function command_range(cmd)
  -- From visual mode (`:'<,'>`) with a charwise selection, rewrite exactly the selection.
  if cmd.range == 2 and vim.fn.visualmode() == 'v' then
    local s = vim.api.nvim_buf_get_mark(0, '<')
    local e = vim.api.nvim_buf_get_mark(0, '>')
    if s[1] == cmd.line1 and e[1] == cmd.line2 then
      local client = M.get_client(0)
      if client then
        return { range = charwise_range(0, client.offset_encoding or 'utf-16') }
      end
    end
  end
  return { line1 = cmd.line1, line2 = cmd.line2 }
end

local function create_commands()
  vim.api.nvim_create_user_command(
    'AnnealRewrite',
    function(cmd)
      local opts = command_range(cmd)
      if cmd.args ~= '' then
        opts.instruction = cmd.args
      end
      M.rewrite(opts)
    end,
    { range = true, nargs = '*', desc = 'Anneal: rewrite the range (prompts for an instruction)' }
  )
  vim.api.nvim_create_user_command('AnnealRepair', function(cmd)
    M.repair(cmd.range == 0 and {} or command_range(cmd))
  end, { range = true, desc = 'Anneal: rewrite the range with no instruction' })
  vim.api.nvim_create_user_command('AnnealAccept', function()
    M.accept()
  end, { desc = 'Anneal: accept the proposal on show' })
  vim.api.nvim_create_user_command('AnnealReject', function()
    M.reject()
  end, { desc = 'Anneal: reject the proposal on show' })
  vim.api.nvim_create_user_command('AnnealFill', function()
    M.fill()
  end, { desc = 'Anneal: fill at the cursor' })
  vim.api.nvim_create_user_command('AnnealStatus', function()
    M.server_status(function(s, err)
      notify(s and M.describe_status(s) or err, s and vim.log.levels.INFO or vim.log.levels.WARN)
    end)
  end, { desc = 'Anneal: which model runs where, and whether it is ready' })
  vim.api.nvim_create_user_command('AnnealCancel', function()
    if not M.cancel() then
      notify('no rewrite is running')
    end
  end, { desc = 'Anneal: cancel the rewrite in flight' })
end

--- Configures the plugin and starts the server for buffers of the configured filetypes.
---@param opts? table see `:help anneal-setup`
function M.setup(opts)
  M.config = vim.tbl_deep_extend('force', vim.deepcopy(defaults), opts or {})
  -- Lists replace, not merge, the defaults.
  for _, key in ipairs({ 'cmd', 'filetypes', 'root_markers' }) do
    if opts and opts[key] then
      M.config[key] = opts[key]
    end
  end
  for _, key in ipairs({ 'rewrite', 'repair', 'accept', 'reject' }) do
    if opts and opts.keymaps and opts.keymaps[key] ~= nil then
      M.config.keymaps[key] = opts.keymaps[key]
    end
  end
  if vim.fn.has('nvim-0.10') ~= 1 then
    notify('needs Neovim 0.10 or newer', vim.log.levels.ERROR)
    return
  end

  create_commands()
  local group = vim.api.nvim_create_augroup('anneal', { clear = true })
  vim.api.nvim_create_autocmd('FileType', {
    group = group,
    pattern = M.config.filetypes,
    callback = function(ev)
      M.start(ev.buf)
    end,
  })
  vim.api.nvim_create_autocmd('LspAttach', {
    group = group,
    callback = function(ev)
      local client = vim.lsp.get_client_by_id(ev.data.client_id)
      if client and client.name == NAME then
        set_buffer_keymaps(ev.buf)
      end
    end,
  })
  vim.api.nvim_create_autocmd('LspProgress', { group = group, callback = on_progress })

  -- Buffers opened before setup().
  for _, bufnr in ipairs(vim.api.nvim_list_bufs()) do
    if
      vim.api.nvim_buf_is_loaded(bufnr)
      and vim.tbl_contains(M.config.filetypes, vim.bo[bufnr].filetype)
    then
      M.start(bufnr)
    end
  end
end

return M
