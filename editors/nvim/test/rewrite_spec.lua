-- End-to-end test of the Anneal Neovim plugin against the real `anneal serve`.
--
--   ANNEAL_BIN=target/debug/anneal ANNEAL_MODEL_DIR=/tmp/tiny \
--     nvim --headless --clean --cmd 'set rtp+=editors/nvim' -l editors/nvim/test/rewrite_spec.lua
--
-- The user-facing cases (rewrite + accept + :write in Rust and Python, reject, stale proposals,
-- UTF-16) run against the embedded default model, in mask mode, accepting whatever it writes: the
-- test checks that the file on disk is the buffer with the server's edit applied, not its quality.
-- ANNEAL_MODEL_DIR is a random-weight checkpoint (`anneal model random DIR`), used only where
-- garbage is the point: the server's refusal of a proposal that adds syntax errors.
-- editors/nvim/test/run.sh sets it all up.
-- ANNEAL_TEST_TMP (optional) is where the files are copied; a fresh temp dir otherwise.
-- ANNEAL_TEST_TIMEOUT_MS (optional, default 60000) bounds every wait.

local uv = vim.uv or vim.loop

local TIMEOUT = tonumber(os.getenv('ANNEAL_TEST_TIMEOUT_MS') or '') or 60000

local function log(...)
  io.stdout:write(table.concat(vim.tbl_map(tostring, { ... }), ' ') .. '\n')
  io.stdout:flush()
end

local function die(msg)
  io.stderr:write('nvim: ' .. msg .. '\n')
  io.stdout:write('nvim: 0 passed, 1 failed\n')
  os.exit(2)
end

local bin = os.getenv('ANNEAL_BIN')
local model_dir = os.getenv('ANNEAL_MODEL_DIR')
if not bin or vim.fn.executable(bin) ~= 1 then
  die('ANNEAL_BIN must name the anneal binary (got ' .. tostring(bin) .. ')')
end
bin = vim.fn.fnamemodify(bin, ':p')
if not model_dir or vim.fn.isdirectory(model_dir) ~= 1 then
  die('ANNEAL_MODEL_DIR must name a checkpoint folder (got ' .. tostring(model_dir) .. ')')
end
model_dir = vim.fn.fnamemodify(model_dir, ':p'):gsub('/$', '')

local script_dir = vim.fn.fnamemodify(debug.getinfo(1, 'S').source:sub(2), ':p:h')
local fixtures = script_dir .. '/fixtures'
local tmp = os.getenv('ANNEAL_TEST_TMP')
if not tmp or tmp == '' then
  tmp = vim.fn.tempname()
end
vim.fn.mkdir(tmp, 'p')

-- Messages the plugin shows, for the assertions (and echoed to the log).
local notes = {}
vim.notify = function(msg, level)
  notes[#notes + 1] = { msg = msg, level = level }
  log(('  [notify %s] %s'):format(tostring(level), msg))
end

-- A prompt would block (or end) a headless Neovim: answer none unless a case says otherwise.
local unexpected_prompts = {}
vim.ui.input = function(o, cb)
  unexpected_prompts[#unexpected_prompts + 1] = o.prompt
  log('  [unexpected prompt] ' .. tostring(o.prompt))
  cb(nil)
end

-- Helpers -------------------------------------------------------------------------------------------

local function read_file(path)
  local f = assert(io.open(path, 'rb'))
  local s = f:read('*a')
  f:close()
  return s
end

local function write_file(path, s)
  local f = assert(io.open(path, 'wb'))
  f:write(s)
  f:close()
end

local copies = 0
local function copy_fixture(name)
  copies = copies + 1
  local dir = ('%s/case%d'):format(tmp, copies)
  vim.fn.mkdir(dir, 'p')
  local path = dir .. '/' .. name
  write_file(path, read_file(fixtures .. '/' .. name))
  return path
end

local function buf_text(bufnr)
  return table.concat(vim.api.nvim_buf_get_lines(bufnr, 0, -1, false), '\n') .. '\n'
end

local function wait_for(what, cond)
  local ok = vim.wait(TIMEOUT, cond, 20)
  if not ok then
    error(('timed out after %d ms waiting for %s'):format(TIMEOUT, what), 2)
  end
end

local function check(cond, msg)
  if not cond then
    error(msg, 2)
  end
end

local function show(s)
  return vim.inspect(s)
end

--- Byte length of the prefix of `line` that is `units` code units long in `encoding`
--- (clamped to the line, as LSP asks). Written independently of Neovim's own conversion.
local function units_to_bytes(line, units, encoding)
  if encoding == 'utf-8' then
    return math.min(units, #line)
  end
  local i, seen = 1, 0
  while i <= #line and seen < units do
    local b = line:byte(i)
    local len = b < 0x80 and 1 or b < 0xE0 and 2 or b < 0xF0 and 3 or 4
    seen = seen + ((encoding == 'utf-16' and len == 4) and 2 or 1)
    i = i + len
  end
  return i - 1
end

--- The number of `encoding` code units in the first `bytes` bytes of `line`.
local function bytes_to_units(line, bytes, encoding)
  if encoding == 'utf-8' then
    return bytes
  end
  local i, units = 1, 0
  while i <= bytes do
    local b = line:byte(i)
    local len = b < 0x80 and 1 or b < 0xE0 and 2 or b < 0xF0 and 3 or 4
    units = units + ((encoding == 'utf-16' and len == 4) and 2 or 1)
    i = i + len
  end
  return units
end

--- Applies LSP text edits to `text` as plain strings: the expected result, computed without
--- the plugin or vim.lsp.util.
local function apply_edits(text, edits, encoding)
  local starts, lines = {}, {}
  local pos = 1
  while true do
    starts[#starts + 1] = pos
    local nl = text:find('\n', pos, true)
    if not nl then
      lines[#lines + 1] = text:sub(pos)
      break
    end
    lines[#lines + 1] = text:sub(pos, nl - 1)
    pos = nl + 1
  end
  local function offset(p) -- 0-based byte offset
    local l = p.line + 1
    if l > #lines then
      return #text
    end
    return starts[l] - 1 + units_to_bytes(lines[l], p.character, encoding)
  end
  local spans = {}
  for _, e in ipairs(edits) do
    spans[#spans + 1] = { a = offset(e.range.start), b = offset(e.range['end']), text = e.newText }
  end
  table.sort(spans, function(x, y)
    return x.a > y.a
  end)
  local lo, hi = #text, 0
  for i, s in ipairs(spans) do
    if i > 1 then
      check(s.b <= spans[i - 1].a, 'the server returned overlapping edits')
    end
    text = text:sub(1, s.a) .. s.text .. text:sub(s.b + 1)
    lo, hi = math.min(lo, s.a), math.max(hi, s.b)
  end
  return text, lo, hi
end

local anneal = require('anneal')

--- Stops every running server and waits until they are gone (a case that needs a fresh one).
local function stop_servers()
  for _, c in ipairs(anneal.clients()) do
    c:stop()
  end
  wait_for('the running servers to stop', function()
    return #anneal.clients() == 0
  end)
end

local function reset_notes()
  notes = {}
end

local function notes_matching(pattern)
  local out = {}
  for _, n in ipairs(notes) do
    if n.msg:find(pattern) then
      out[#out + 1] = n.msg
    end
  end
  return out
end

--- Opens `path` (the plugin starts the server on FileType) and waits for an initialized client.
local function open(path)
  vim.cmd('silent! %bwipeout!')
  vim.cmd.edit(vim.fn.fnameescape(path))
  local bufnr = vim.api.nvim_get_current_buf()
  check(anneal.get_client(bufnr), 'the plugin started no client for ' .. path)
  -- The client goes away if the server exits; stop waiting then.
  wait_for('an initialized Anneal client on ' .. path, function()
    local c = anneal.get_client(bufnr)
    return c == nil or c.initialized
  end)
  local client = anneal.get_client(bufnr)
  check(client, 'the server exited before it was initialized (see lsp.log)')
  return bufnr, client
end

--- Starts a rewrite and waits for it to end; returns the proposal (or nil and the error).
local function rewrite_and_wait(opts)
  local finished, err = false, nil
  opts.on_done = function(e)
    finished, err = true, e
  end
  anneal.rewrite(opts)
  wait_for('the rewrite to finish', function()
    return finished
  end)
  return anneal.proposal, err
end

local function expect_preview(bufnr)
  local p = anneal.proposal
  check(p ~= nil, 'no proposal on show')
  check(p.bufnr == bufnr, 'the proposal is for buffer ' .. p.bufnr .. ', not ' .. bufnr)
  check(p.preview_win and vim.api.nvim_win_is_valid(p.preview_win), 'no preview window')
  check(vim.api.nvim_get_current_win() == p.preview_win, 'the preview window is not current')
  local pbuf = vim.api.nvim_win_get_buf(p.preview_win)
  check(vim.bo[pbuf].filetype == 'diff', 'preview filetype is ' .. vim.bo[pbuf].filetype)
  local lines = vim.api.nvim_buf_get_lines(pbuf, 0, -1, false)
  check(
    lines[1]:match('^%-%-%- ') and lines[2]:match('^%+%+%+ '),
    'preview has no diff header: ' .. show(lines)
  )
  local hunks = 0
  for _, l in ipairs(lines) do
    if l:match('^@@ ') then
      hunks = hunks + 1
    end
  end
  check(hunks > 0, 'preview has no hunk: ' .. show(lines))
  return p, lines
end

local function press(keys)
  vim.api.nvim_feedkeys(vim.keycode(keys), 'mx', false)
end

local function edit_of(proposal, bufnr)
  local dc = proposal.edit.documentChanges
  check(
    type(dc) == 'table' and #dc == 1,
    'expected one documentChanges entry: ' .. show(proposal.edit)
  )
  check(
    dc[1].textDocument.uri == vim.uri_from_bufnr(bufnr),
    'edit is for ' .. tostring(dc[1].textDocument.uri)
  )
  check(type(dc[1].textDocument.version) == 'number', 'edit is not pinned to a version')
  return dc[1]
end

-- Server settings ----------------------------------------------------------------------------------

--- The embedded default model, as a user gets it. It is weak: in edit mode it mostly proposes no
--- change, so mask mode regenerates each block (always a change), and whatever it writes is kept.
local DEFAULT_MODEL = {
  model = 'default',
  edit = { mode = 'mask', acceptSyntaxErrors = true, mask = { maxSteps = 8 } },
}

--- The random-weight checkpoint, for the cases that need garbage (a proposal with syntax errors).
--- Step limits live in the samplers' sections: `mask` for mask mode (this checkpoint is not
--- edit-trained), `edit` for edit mode.
local TINY_MODEL = {
  model = model_dir,
  edit = { acceptSyntaxErrors = true, mask = { maxSteps = 8 }, edit = { maxSteps = 8 } },
}

--- Runs fn() with the servers switched to `options` (`workspace/didChangeConfiguration`; a new
--- model is loaded before the next rewrite), then switches them back, even when fn fails.
local function with_settings(options, fn)
  local saved = anneal.config.init_options
  anneal.configure(options)
  local ok, err = pcall(fn)
  anneal.configure(saved)
  if not ok then
    error(err, 0)
  end
end

-- Cases ----------------------------------------------------------------------------------------------

local cases = {}
local function case(name, fn)
  cases[#cases + 1] = { name = name, fn = fn }
end

--- Runs an Ex command that starts a rewrite (commands take no callback: watch the plugin's
--- state) and calls on_done(err) when it ends.
local function run_command(cmd, on_done)
  vim.cmd(cmd)
  local pending = anneal.pending
  if not pending then
    return on_done('no request in flight after ' .. cmd)
  end
  wait_for('the rewrite to finish', function()
    return anneal.pending ~= pending
  end)
  if anneal.proposal then
    on_done(nil)
  else
    on_done('no proposal: ' .. show(notes))
  end
end

--- Accept: select, rewrite, preview, accept with a key, undo/redo as one step, :write, check disk.
local function accept_case(opts)
  local path = copy_fixture(opts.fixture)
  local original = read_file(path)
  local bufnr, client = open(path)
  check(vim.bo[bufnr].filetype == opts.filetype, 'filetype is ' .. vim.bo[bufnr].filetype)
  check(
    client.offset_encoding == 'utf-8'
      or client.offset_encoding == 'utf-16'
      or client.offset_encoding == 'utf-32',
    'encoding ' .. tostring(client.offset_encoding)
  )
  local settings = client.config.init_options or {}
  check(
    settings.model == 'default',
    'the server runs model ' .. show(settings.model) .. ', not the default one'
  )
  local progress_before = anneal.progress_count
  if opts.prepare then
    -- A change of the user's before the rewrite: it must stay a separate undo step.
    opts.prepare(bufnr)
    original = buf_text(bufnr)
  end

  local finished, err = false, nil
  opts.start(bufnr, function(e)
    finished, err = true, e
  end)
  wait_for('the rewrite to finish', function()
    return finished
  end)
  check(err == nil, 'rewrite failed: ' .. tostring(err))
  local proposal = expect_preview(bufnr)
  local doc_edit = edit_of(proposal, bufnr)
  check(#doc_edit.edits > 0, 'the proposal has no edit')
  check(
    doc_edit.textDocument.version == vim.lsp.util.buf_versions[bufnr],
    'edit version '
      .. doc_edit.textDocument.version
      .. ' ≠ buffer version '
      .. vim.lsp.util.buf_versions[bufnr]
  )
  check(
    anneal.progress_count > progress_before,
    'no work-done progress was seen during the rewrite'
  )
  if opts.check_range then
    opts.check_range(proposal)
  end

  local expected, lo, hi = apply_edits(original, doc_edit.edits, client.offset_encoding)
  check(expected ~= original, 'the edit changes nothing')
  check(
    table.concat(proposal.new_lines, '\n') .. '\n' == expected,
    'the preview differs from the edit:\n' .. table.concat(proposal.new_lines, '\n')
  )
  check(buf_text(bufnr) == original, 'the buffer changed before accepting')

  local seq_before = vim.fn.undotree(bufnr).seq_cur
  press(opts.accept_key or 'ga')
  check(anneal.proposal == nil, 'the proposal is still on show after accepting')
  check(not vim.api.nvim_win_is_valid(proposal.preview_win), 'the preview window is still open')
  check(vim.api.nvim_get_current_buf() == bufnr, 'focus did not return to the edited buffer')
  check(
    buf_text(bufnr) == expected,
    ('buffer after accept:\n%s\nexpected:\n%s'):format(buf_text(bufnr), expected)
  )
  check(
    #notes_matching('refus') == 0 and #notes_matching('changed since') == 0,
    'accept was refused: ' .. show(notes)
  )

  -- One undo step takes the whole edit back; redo brings it again.
  vim.api.nvim_buf_call(bufnr, function()
    vim.cmd('silent undo')
  end)
  check(
    buf_text(bufnr) == original,
    'one undo did not restore the original text:\n' .. buf_text(bufnr)
  )
  check(
    vim.fn.undotree(bufnr).seq_cur == seq_before,
    'undo went past the edit (seq '
      .. vim.fn.undotree(bufnr).seq_cur
      .. ', was '
      .. seq_before
      .. ')'
  )
  vim.api.nvim_buf_call(bufnr, function()
    vim.cmd('silent redo')
  end)
  check(buf_text(bufnr) == expected, 'redo did not bring the edit back')

  vim.cmd('silent write')
  local on_disk = read_file(path)
  check(on_disk == expected, ('file on disk:\n%s\nexpected:\n%s'):format(on_disk, expected))
  check(on_disk ~= original, 'the file on disk did not change')
  check(on_disk:sub(1, lo) == original:sub(1, lo), 'text before the edited span changed')
  check(
    on_disk:sub(#on_disk - (#original - hi) + 1) == original:sub(hi + 1),
    'text after the edited span changed'
  )
  log(
    ('  edited bytes %d..%d of %d; %d text edit(s); file now %d bytes'):format(
      lo,
      hi,
      #original,
      #doc_edit.edits,
      #on_disk
    )
  )
  if opts.check_text then
    opts.check_text(on_disk, proposal)
  end
end

case(
  'rust: charwise visual selection, :AnnealRewrite with an instruction, accept with ga, :write',
  function()
    accept_case({
      fixture = 'sample.rs',
      filetype = 'rust',
      start = function(bufnr, on_done)
        -- Select `for word ... }` (lines 6-8) charwise, as a user would, and run the command.
        vim.api.nvim_win_set_cursor(0, { 6, 4 })
        vim.cmd('normal! v2j0f}\27')
        check(vim.fn.visualmode() == 'v', 'visual mode was ' .. vim.fn.visualmode())
        run_command("'<,'>AnnealRewrite use a fold instead of a loop", on_done)
      end,
      check_range = function(proposal)
        check(
          proposal.instruction == 'use a fold instead of a loop',
          'instruction was ' .. show(proposal.instruction)
        )
        -- `for` (line 6, column 4) up to and including `}` (line 8, column 4), 0-based, end exclusive.
        local want = { start = { line = 5, character = 4 }, ['end'] = { line = 7, character = 5 } }
        check(vim.deep_equal(proposal.range, want), 'requested range ' .. show(proposal.range))
      end,
    })
  end
)

case(
  'python: user edit, then rewrite() on lines 5-7 with the prompt answered, accept with <CR>, undo, :write',
  function()
    local prompted
    local real_input = vim.ui.input
    vim.ui.input = function(o, cb)
      prompted = o.prompt
      cb('') -- an empty instruction: the default model follows none anyway
    end
    local ok, err = pcall(accept_case, {
      fixture = 'sample.py',
      filetype = 'python',
      accept_key = '<CR>',
      prepare = function(bufnr)
        vim.api.nvim_buf_set_lines(bufnr, -1, -1, false, { '# a line the user added' })
      end,
      start = function(bufnr, on_done)
        anneal.rewrite({ bufnr = bufnr, line1 = 5, line2 = 7, on_done = on_done })
      end,
    })
    vim.ui.input = real_input
    if not ok then
      error(err, 0)
    end
    check(prompted ~= nil, 'rewrite() without an instruction did not prompt')
  end
)

case(
  'repair: :AnnealRepair on a syntax-error diagnostic asks for its quick fix, accept, :write',
  function()
    local diagnostic
    accept_case({
      fixture = 'sample.rs',
      filetype = 'rust',
      prepare = function(bufnr)
        -- The user breaks line 14: no `;` before the `}`.
        vim.api.nvim_buf_set_lines(bufnr, 13, 14, false, { '    let first = counts.get("a")' })
      end,
      start = function(bufnr, on_done)
        wait_for("the server's syntax-error diagnostic", function()
          diagnostic = anneal.diagnostic_at_cursor(bufnr) -- nil until the cursor is on its line
          for _, d in ipairs(vim.diagnostic.get(bufnr)) do
            if d.source == 'anneal' then
              vim.api.nvim_win_set_cursor(0, { d.lnum + 1, d.col })
              diagnostic = anneal.diagnostic_at_cursor(bufnr)
              return diagnostic ~= nil
            end
          end
        end)
        log(
          '  diagnostic: '
            .. diagnostic.message
            .. ' at '
            .. vim.inspect(diagnostic.range, { newline = ' ', indent = '' })
        )
        -- The server offers its quick fix on it (the plugin asks the same way).
        local uri = vim.uri_from_bufnr(bufnr)
        local answers = vim.lsp.buf_request_sync(bufnr, 'textDocument/codeAction', {
          textDocument = { uri = uri },
          range = diagnostic.range,
          context = { diagnostics = { diagnostic }, only = { 'quickfix' } },
        }, TIMEOUT) or {}
        local titles = {}
        for _, a in pairs(answers) do
          for _, action in ipairs(a.result or {}) do
            titles[#titles + 1] = action.kind .. ': ' .. action.title
          end
        end
        check(
          vim.tbl_contains(titles, 'quickfix: Anneal: Repair syntax error'),
          'no repair quick fix offered: ' .. show(titles)
        )
        run_command('AnnealRepair', on_done)
      end,
      check_range = function(proposal)
        check(
          vim.deep_equal(proposal.range, diagnostic.range),
          'requested range '
            .. show(proposal.range)
            .. ", not the diagnostic's "
            .. show(diagnostic.range)
        )
        check(
          proposal.instruction == nil,
          'a repair sent an instruction: ' .. show(proposal.instruction)
        )
      end,
      -- The repair is found by search (the parser checks each candidate, the model ranks them):
      -- the `;` the user lost is back, and nothing else changed.
      check_text = function(on_disk, proposal)
        check(
          on_disk:find('    let first = counts.get("a");\n', 1, true) ~= nil,
          'the `;` was not restored:\n' .. on_disk
        )
        check(
          proposal.title == nil or proposal.title:find("insert ';'", 1, true),
          'the quick fix is not titled by its edit: ' .. show(proposal.title)
        )
      end,
    })
  end
)

case('reject: q closes the preview, the buffer and the file stay as they were', function()
  local path = copy_fixture('sample.rs')
  local original = read_file(path)
  local bufnr = open(path)
  local proposal, err =
    rewrite_and_wait({ bufnr = bufnr, line1 = 4, line2 = 10, instruction = 'tidy' })
  check(err == nil and proposal, 'rewrite failed: ' .. tostring(err))
  expect_preview(bufnr)
  press('q')
  check(anneal.proposal == nil, 'the proposal is still on show after rejecting')
  check(not vim.api.nvim_win_is_valid(proposal.preview_win), 'the preview window is still open')
  check(buf_text(bufnr) == original, 'the buffer changed after rejecting')
  check(not vim.bo[bufnr].modified, 'the buffer is marked modified after rejecting')
  vim.cmd('silent write')
  check(read_file(path) == original, 'the file on disk changed after rejecting')
  -- gr rejects too, and :AnnealRepair works on the cursor line.
  vim.api.nvim_win_set_cursor(0, { 5, 0 })
  local finished = false
  anneal.repair({
    bufnr = bufnr,
    on_done = function()
      finished = true
    end,
  })
  wait_for('the repair to finish', function()
    return finished
  end)
  expect_preview(bufnr)
  press('gr')
  check(anneal.proposal == nil, 'gr did not reject')
  check(buf_text(bufnr) == original and read_file(path) == original, 'gr changed something')
end)

case("fill: :AnnealFill writes the default model's fill at the cursor, one undo step", function()
  local path = copy_fixture('sample.py')
  local original = read_file(path)
  local bufnr = open(path)
  -- The start of line 2, between the imports and what follows.
  vim.api.nvim_win_set_cursor(0, { 2, 0 })
  local offset = #table.concat(vim.api.nvim_buf_get_lines(bufnr, 0, 1, false), '\n') + 1
  local finished, err = false, nil
  with_settings({ model = 'default', fill = { tokens = 16 } }, function()
    anneal.fill({
      on_done = function(e)
        finished, err = true, e
      end,
    })
    wait_for('the fill to finish', function()
      return finished
    end)
  end)
  check(err == nil, 'fill failed: ' .. tostring(err) .. ' ' .. show(notes))
  local after = buf_text(bufnr)
  check(#after > #original, 'nothing was inserted')
  check(after:sub(1, offset) == original:sub(1, offset), 'the text before the cursor changed')
  check(
    after:sub(-(#original - offset)) == original:sub(offset + 1),
    'the text after the cursor changed'
  )
  press('u')
  check(buf_text(bufnr) == original, 'one u did not undo the fill')
end)

case('status: :AnnealStatus names the model, its family and size', function()
  local _, _ = open(copy_fixture('sample.py'))
  reset_notes()
  vim.cmd('AnnealStatus')
  wait_for('the status', function()
    return #notes_matching('Anneal: ') > 0
  end)
  local line = notes_matching('Anneal: ')[1]
  check(
    line:find('ready', 1, true)
      and line:find('(anneal, ', 1, true)
      and line:find('M parameters', 1, true),
    'status: ' .. line
  )
end)

case(
  'keymaps: rewrite and repair keys are set in the attached buffer, for the line and the selection',
  function()
    local bufnr = open(copy_fixture('sample.py'))
    wait_for('the buffer keymaps', function()
      return vim.fn.maparg('<Leader>ar', 'n', false, true).buffer == 1
    end)
    local want = {
      { '<Leader>ar', 'n', '<Cmd>AnnealRewrite<CR>', 'Anneal: rewrite line' },
      { '<Leader>ar', 'x', ':AnnealRewrite<CR>', 'Anneal: rewrite selection' },
      { '<Leader>af', 'n', '<Cmd>AnnealRepair<CR>', 'Anneal: repair line' },
      { '<Leader>aF', 'x', ':AnnealRepair<CR>', 'Anneal: repair selection' },
    }
    for _, w in ipairs(want) do
      local m = vim.api.nvim_buf_call(bufnr, function()
        return vim.fn.maparg(w[1], w[2], false, true)
      end)
      check(
        m.buffer == 1 and m.rhs == w[3] and m.desc == w[4],
        ('%s in mode %s: %s'):format(w[1], w[2], vim.inspect(m))
      )
    end
  end
)

case('stale: the buffer changes while the preview is shown, accept is refused', function()
  local path = copy_fixture('sample.py')
  local original = read_file(path)
  local bufnr = open(path)
  local proposal, err = rewrite_and_wait({
    bufnr = bufnr,
    line1 = 12,
    line2 = 12,
    instruction = 'print the median too',
  })
  check(err == nil and proposal, 'rewrite failed: ' .. tostring(err))
  expect_preview(bufnr)
  local version = edit_of(proposal, bufnr).textDocument.version
  -- The user edits the buffer from the preview window's side (another window on it).
  vim.api.nvim_buf_set_lines(bufnr, 0, 0, false, { '# edited by the user' })
  local modified = '# edited by the user\n' .. original
  check(vim.lsp.util.buf_versions[bufnr] ~= version, 'the buffer version did not move')
  vim.api.nvim_set_current_win(proposal.preview_win)
  reset_notes()
  press('ga')
  check(#notes_matching('changed since the request') == 1, 'no refusal message: ' .. show(notes))
  check(anneal.proposal == nil, 'the refused proposal is still on show')
  check(
    buf_text(bufnr) == modified,
    "the buffer lost the user's edit or took the stale proposal:\n" .. buf_text(bufnr)
  )
  vim.api.nvim_set_current_buf(bufnr)
  vim.cmd('silent write')
  check(read_file(path) == modified, "the file on disk is not the user's version")
end)

case(
  'stale in flight: the buffer changes before the server answers, nothing is shown or applied',
  function()
    local path = copy_fixture('sample.rs')
    local original = read_file(path)
    local bufnr = open(path)
    reset_notes()
    local finished, err = false, nil
    anneal.rewrite({
      bufnr = bufnr,
      line1 = 12,
      line2 = 15,
      instruction = 'x',
      on_done = function(e)
        finished, err = true, e
      end,
    })
    -- No callback can run before this line: the change is made while the request is in flight.
    vim.api.nvim_buf_set_lines(bufnr, 0, 0, false, { '// edited by the user' })
    wait_for('the rewrite to finish', function()
      return finished
    end)
    check(
      anneal.proposal == nil,
      'a proposal for the old text is on show: ' .. show(anneal.proposal and anneal.proposal.diff)
    )
    check(err ~= nil or #notes_matching('changed') > 0, 'the user was not told: ' .. show(notes))
    check(
      buf_text(bufnr) == '// edited by the user\n' .. original,
      "the buffer is not the user's version"
    )
    log('  told: ' .. tostring(err or notes[#notes].msg))
  end
)

case(
  'refused by the server: a proposal that adds syntax errors is reported, nothing is shown or changed',
  function()
    local path = copy_fixture('sample.rs')
    local original = read_file(path)
    local bufnr = open(path)
    -- Random weights: a proposal with syntax errors is all but certain.
    local refusing = vim.tbl_deep_extend(
      'force',
      TINY_MODEL,
      { edit = { acceptSyntaxErrors = false, retries = 0 } }
    )
    with_settings(refusing, function()
      local proposal, rerr =
        rewrite_and_wait({ bufnr = bufnr, line1 = 6, line2 = 8, instruction = 'x' })
      check(proposal == nil, 'a proposal is on show: ' .. show(proposal and proposal.diff))
      check(
        rerr and rerr:find('syntax error'),
        'expected a syntax-error refusal, got ' .. show(rerr)
      )
      check(
        #notes_matching('rewrite failed: .*syntax error') == 1,
        'the user was not told: ' .. show(notes)
      )
      check(buf_text(bufnr) == original and not vim.bo[bufnr].modified, 'the buffer changed')
      log('  told: ' .. rerr)
    end)
  end
)

case(
  'fresh server: a rewrite asked for right after opening waits for the server to start',
  function()
    stop_servers()
    local path = copy_fixture('sample.py')
    vim.cmd('silent! %bwipeout!')
    vim.cmd.edit(vim.fn.fnameescape(path))
    local bufnr = vim.api.nvim_get_current_buf()
    local client = anneal.get_client(bufnr)
    check(client and not client.initialized, 'expected a client that is still starting')
    reset_notes()
    local proposal, err =
      rewrite_and_wait({ bufnr = bufnr, line1 = 16, line2 = 16, instruction = false })
    check(err == nil and proposal, 'rewrite failed: ' .. tostring(err))
    check(
      #notes_matching('waiting for the server') == 1,
      'the user was not told about the wait: ' .. show(notes)
    )
    expect_preview(bufnr)
    press('gr')
  end
)

case(
  'utf-16: a client that offers only UTF-16 positions, charwise selection after non-ASCII text',
  function()
    stop_servers()
    local saved = anneal.config.client
    anneal.config.client = { capabilities = { general = { positionEncodings = { 'utf-16' } } } }
    local want
    local ok, err = pcall(accept_case, {
      fixture = 'sample.py',
      filetype = 'python',
      start = function(bufnr, on_done)
        local client = anneal.get_client(bufnr)
        check(
          client.offset_encoding == 'utf-16',
          'the server chose ' .. tostring(client.offset_encoding)
        )
        -- From `Werte` on line 5 (after `Σ` and `ü`: 2 bytes but 1 UTF-16 unit each) to the end
        -- of line 7, charwise.
        local line5 = vim.api.nvim_buf_get_lines(bufnr, 4, 5, false)[1]
        local col = assert(line5:find('Werte', 1, true)) - 1
        want = {
          start = { line = 4, character = bytes_to_units(line5, col, 'utf-16') },
          ['end'] = { line = 6, character = #'        total += v' },
        }
        check(
          want.start.character == col - 2,
          'fixture: expected 2 two-byte characters before Werte'
        )
        vim.api.nvim_win_set_cursor(0, { 5, col })
        vim.cmd('normal! v2j$\27')
        run_command("'<,'>AnnealRewrite Werte", on_done)
      end,
      check_range = function(proposal)
        check(
          vim.deep_equal(proposal.range, want),
          'requested range ' .. show(proposal.range) .. ', want ' .. show(want)
        )
      end,
    })
    anneal.config.client = saved
    for _, c in ipairs(anneal.clients()) do
      c:stop()
    end
    if not ok then
      error(err, 0)
    end
  end
)

case(':checkhealth anneal reports the version, the executable and the attached client', function()
  local path = copy_fixture('sample.rs')
  open(path)
  vim.cmd('checkhealth anneal')
  local text = table.concat(vim.api.nvim_buf_get_lines(0, 0, -1, false), '\n')
  check(text:find('anneal %d+%.%d+%.%d+'), 'no `anneal --version` output in:\n' .. text)
  check(text:find('Neovim %d+%.%d+'), 'no Neovim version in:\n' .. text)
  check(text:find('initialized'), 'no initialized client in:\n' .. text)
  check(not text:find('ERROR'), 'checkhealth reports an error:\n' .. text)
  vim.cmd('tabclose')
end)

case('help: :helptags builds doc/anneal.txt without errors and :help finds its tags', function()
  local doc = tmp .. '/doc'
  vim.fn.mkdir(doc, 'p')
  write_file(doc .. '/anneal.txt', read_file(script_dir .. '/../doc/anneal.txt'))
  vim.cmd('helptags ' .. vim.fn.fnameescape(doc))
  local tags = read_file(doc .. '/tags')
  for _, tag in ipairs({
    'anneal.txt',
    'anneal-setup',
    ':AnnealRewrite',
    ':AnnealRepair',
    'anneal-preview',
    'anneal.rewrite()',
  }) do
    check(
      tags:find('\n' .. vim.pesc(tag) .. '\t') or tags:find('^' .. vim.pesc(tag) .. '\t'),
      'no help tag ' .. tag
    )
  end
  vim.opt.runtimepath:append(tmp)
  vim.cmd('help :AnnealRewrite')
  check(
    vim.bo.filetype == 'help' and vim.fn.expand('%:t') == 'anneal.txt',
    ':help :AnnealRewrite opened ' .. vim.fn.expand('%')
  )
  vim.cmd('helpclose')
end)

-- Run ---------------------------------------------------------------------------------------------------

anneal.setup({
  cmd = { bin, 'serve' },
  filetypes = { 'rust', 'python' },
  init_options = DEFAULT_MODEL,
  progress = 'notify',
  keymaps = { rewrite = '<Leader>ar', repair = { '<Leader>af', '<Leader>aF' } },
})

log(
  ('nvim %s; anneal %s; default model, and %s for the refusal; files in %s'):format(
    tostring(vim.version()),
    bin,
    model_dir,
    tmp
  )
)
local passed, failed = 0, 0
for i, c in ipairs(cases) do
  local t0 = uv.hrtime()
  log(('[%d/%d] %s'):format(i, #cases, c.name))
  reset_notes()
  unexpected_prompts = {}
  local ok, err = xpcall(c.fn, debug.traceback)
  if ok and #unexpected_prompts > 0 then
    ok, err = false, 'unexpected prompt(s): ' .. show(unexpected_prompts)
  end
  -- The server falls back to all defaults (the embedded model) on a settings error.
  if ok and #notes_matching('invalid Anneal settings') > 0 then
    ok, err =
      false, 'the server rejected the settings: ' .. show(notes_matching('invalid Anneal settings'))
  end
  -- Leave no proposal or request behind for the next case.
  anneal.cancel(true)
  if anneal.proposal then
    anneal.reject()
  end
  local ms = (uv.hrtime() - t0) / 1e6
  if ok then
    passed = passed + 1
    log(('  ok (%.0f ms)'):format(ms))
  else
    failed = failed + 1
    log(('  FAILED (%.0f ms): %s'):format(ms, err))
  end
end

-- Stop the servers and wait for them to exit, so none is left behind.
local clients = vim.lsp.get_clients({ name = 'anneal' })
for _, c in ipairs(clients) do
  if vim.fn.has('nvim-0.11') == 1 then
    c:stop()
  else
    c.stop()
  end
end
vim.wait(5000, function()
  return #vim.lsp.get_clients({ name = 'anneal' }) == 0
end, 20)

log(('nvim: %d passed, %d failed'):format(passed, failed))
os.exit(failed == 0 and 0 or 1)
